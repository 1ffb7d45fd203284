//! The Open Bandit Dataset sample (obp 0.4.1 wheel): reader of the logged rounds (to be written).
