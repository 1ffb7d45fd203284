//! Off-policy estimators (IPW, SNIPW, DM, DR) with bootstrap intervals (to be written).
