//! `[interactive]` of a suite file: the online protocol's settings (see `metarec-interactive`).
//!
//! ```toml
//! [interactive]
//! env = "truth"            # "truth": clicks drawn from a synthetic world's truth; "replay": logged ratings
//! slate = 5                # items recommended per round (k)
//! horizons = [1, 5, 10, 50] # rounds at which reward@T, regret@T and ctr@T are written; T = the last
//! like = 4                 # a rating at or above this is a click (default: the protocol's like threshold)
//! candidates = 100         # optional: items sampled per user from the scenario's item state (default: all)
//! methods = ["linucb"]     # optional: what `bench` runs on this suite without --methods
//! ```
//!
//! Checked here, before any work: a slate of 0, a horizon of 0, horizons out of order, a slate
//! larger than the sampled candidate set. Each error names its key.

/// Where clicks come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvKind {
    /// The synthetic world's truth: a click is a rating at or above `like`, drawn from the
    /// world's exact rating distribution (so click probabilities and the oracle are exact).
    Truth,
    /// Replay of logged ratings (NICF's setting): a click is a logged rating at or above `like`
    /// of an item not shown before; unrated items never click.
    Replay,
}

impl EnvKind {
    pub fn name(self) -> &'static str {
        match self {
            EnvKind::Truth => "truth",
            EnvKind::Replay => "replay",
        }
    }
}

/// The `[interactive]` table.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interactive {
    pub env: EnvKind,
    /// Items per round (k).
    pub slate: usize,
    /// Reported horizons, increasing; the episode has `horizons.last()` rounds.
    pub horizons: Vec<usize>,
    /// Click threshold on the rating scale; unset: the protocol's like threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub like: Option<f32>,
    /// Candidate items sampled per user from the scenario's item state; unset: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<usize>,
    /// Methods a plain `bench` runs on this suite (unset: the registry's default run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
}

/// An `[interactive]` value that cannot be used; names the key.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("interactive.{key}: {message}")]
pub struct InteractiveError {
    pub key: &'static str,
    pub message: String,
}

impl Interactive {
    /// The episode length: the largest horizon.
    pub fn rounds(&self) -> usize {
        self.horizons.last().copied().unwrap_or(0)
    }

    /// Validates every field once, before any work starts.
    pub fn check(&self) -> Result<(), InteractiveError> {
        let err = |key, message: String| Err(InteractiveError { key, message });
        if self.slate == 0 {
            return err("slate", "must be at least 1".into());
        }
        if self.horizons.is_empty() {
            return err("horizons", "must list at least one horizon".into());
        }
        if self.horizons.contains(&0) {
            return err("horizons", "a horizon of 0 rounds measures nothing; horizons start at 1".into());
        }
        if self.horizons.windows(2).any(|w| w[1] <= w[0]) {
            return err("horizons", format!("{:?} must increase strictly", self.horizons));
        }
        if let Some(l) = self.like.filter(|l| !l.is_finite()) {
            return err("like", format!("{l} is not a rating"));
        }
        if let Some(c) = self.candidates {
            if self.slate > c {
                return err(
                    "slate",
                    format!("{} is larger than the candidate set (interactive.candidates = {c})", self.slate),
                );
            }
        }
        Ok(())
    }

    /// Checks one user's candidate set: the slate must fit, and under replay (each item shown
    /// once) so must every round's slate.
    pub fn check_candidates(&self, user_id: u64, n: usize) -> Result<(), InteractiveError> {
        if self.slate > n {
            return Err(InteractiveError {
                key: "slate",
                message: format!("{} is larger than user {user_id}'s candidate set of {n} items", self.slate),
            });
        }
        if self.env == EnvKind::Replay && self.slate * self.rounds() > n {
            return Err(InteractiveError {
                key: "horizons",
                message: format!(
                    "{} rounds of {} items exceed user {user_id}'s candidate set of {n} items (replay shows each item \
                     once)",
                    self.rounds(),
                    self.slate
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Interactive {
        Interactive {
            env: EnvKind::Truth,
            slate: 3,
            horizons: vec![1, 5],
            like: None,
            candidates: None,
            methods: vec![],
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        assert!(base().check().is_ok());
        let e = Interactive { horizons: vec![0, 5], ..base() }.check().unwrap_err();
        assert_eq!(e.key, "horizons");
        assert!(e.to_string().starts_with("interactive.horizons: a horizon of 0"), "{e}");
        assert_eq!(Interactive { horizons: vec![5, 5], ..base() }.check().unwrap_err().key, "horizons");
        assert_eq!(Interactive { horizons: vec![], ..base() }.check().unwrap_err().key, "horizons");
        assert_eq!(Interactive { slate: 0, ..base() }.check().unwrap_err().key, "slate");
        let e = Interactive { candidates: Some(2), ..base() }.check().unwrap_err();
        assert_eq!(e.to_string(), "interactive.slate: 3 is larger than the candidate set (interactive.candidates = 2)");
        let e = base().check_candidates(17, 2).unwrap_err();
        assert_eq!(e.to_string(), "interactive.slate: 3 is larger than user 17's candidate set of 2 items");
        assert!(base().check_candidates(17, 3).is_ok());
        let replay = Interactive { env: EnvKind::Replay, ..base() };
        assert_eq!(replay.check_candidates(4, 14).unwrap_err().key, "horizons");
        assert!(replay.check_candidates(4, 15).is_ok());
    }
}
