"""luckbench.datasets"""
