"""luckbench.reports"""
