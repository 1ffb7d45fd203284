//! Early stopping on meta-validation users, shared by every method that trains.
//!
//! The caller evaluates at its own rhythm (an epoch, `eval_every` meta-steps) and reports the
//! validation loss; the parameters are snapshotted only when they become the best so far.
//! Without validation users (`None`) the latest parameters are kept.

/// The best evaluation so far and the patience left.
pub struct EarlyStopping<T> {
    patience: usize,
    since_best: usize,
    loss: f64,
    step: u64,
    best: T,
}

impl<T> EarlyStopping<T> {
    /// Starts from the parameters at `step` with their validation loss, if measured.
    pub fn new(patience: usize, step: u64, loss: Option<f64>, params: T) -> Self {
        EarlyStopping { patience, since_best: 0, loss: loss.unwrap_or(f64::INFINITY), step, best: params }
    }

    /// Records the validation loss at `step`; calls `snapshot` only when the parameters are kept.
    /// Returns `true` when training should stop (`patience` evaluations without a gain).
    pub fn observe<E>(
        &mut self,
        step: u64,
        loss: Option<f64>,
        snapshot: impl FnOnce() -> Result<T, E>,
    ) -> Result<bool, E> {
        match loss {
            Some(v) if v < self.loss => {
                (self.loss, self.step, self.best) = (v, step, snapshot()?);
                self.since_best = 0;
            }
            Some(_) => {
                self.since_best += 1;
                return Ok(self.since_best >= self.patience);
            }
            None => (self.loss, self.step, self.best) = (f64::INFINITY, step, snapshot()?),
        }
        Ok(false)
    }

    /// `(chosen step, its validation loss if measured, its parameters)`.
    pub fn finish(self) -> (u64, Option<f64>, T) {
        (self.step, self.loss.is_finite().then_some(self.loss), self.best)
    }
}

#[cfg(test)]
mod tests {
    use super::EarlyStopping;

    #[test]
    fn keeps_the_best_and_stops_after_patience() {
        let mut es = EarlyStopping::new(2, 0, Some(1.0), "init");
        let ok = |p: &'static str| move || Ok::<_, ()>(p);
        assert_eq!(es.observe(1, Some(0.5), ok("a")), Ok(false));
        assert_eq!(es.observe(2, Some(0.7), || -> Result<&str, ()> { panic!("not the best: no snapshot") }), Ok(false));
        assert_eq!(es.observe(3, Some(0.5), ok("tie")), Ok(true));
        assert_eq!(es.finish(), (1, Some(0.5), "a"));
        let mut none = EarlyStopping::new(1, 0, None, "init");
        assert_eq!(none.observe(4, None, ok("last")), Ok(false));
        assert_eq!(none.finish(), (4, None, "last"));
    }
}
