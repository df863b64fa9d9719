"""luckbench.sim"""
