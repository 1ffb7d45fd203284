//! Online interactive recommendation: `env` (to be written).
