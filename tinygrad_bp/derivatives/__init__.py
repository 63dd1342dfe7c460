"""derivatives"""
