"""luckbench.empirical"""
