"""Coupons (what a discount takes off, and for how long) and the promotion codes customers type."""
