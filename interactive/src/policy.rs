//! Online interactive recommendation: `policy` (to be written).
