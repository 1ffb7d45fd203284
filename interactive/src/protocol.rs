//! Online interactive recommendation: `protocol` (to be written).
