"""Expected values from the literature, in one place, each with its source.

Published figures are rounded (3 decimals or 3-4 significant digits); tests compare at the
precision printed.
"""

# Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
# Pareto/NBD Model", Marketing Science 24(2), p. 279-280: CDNOW 1/10 sample, 2,357 customers,
# 39-week calibration period, time in weeks.
BGNBD_CDNOW = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
BGNBD_CDNOW_LL = -9582.4
# Same paper, p. 281: a customer with x=2, t_x=30.43, T=38.86 expects 1.226 purchases in the
# next 39 weeks.
BGNBD_CDNOW_CUSTOMER = {"frequency": 2, "recency": 30.43, "T": 38.86, "t": 39.0, "expected": 1.226}

# Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value", p. 4: the 946 CDNOW
# sample customers with repeat purchases. gamma is printed as 15.44; the maximum (also found
# by lifetimes) is 15.4477, the published figure stopped one digit short: compare to 0.01.
GAMMA_GAMMA_CDNOW = {"p": 6.25, "q": 3.74, "gamma": 15.44}
GAMMA_GAMMA_CDNOW_N = 946
