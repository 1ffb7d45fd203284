//! The online protocol's section ([`crate::analysis::interactive`]): learning curves of
//! cumulative regret and reward against the horizon, one figure per suite and scenario.

use crate::analysis::interactive::LearningCurve;
use crate::analysis::leaderboard::LeaderboardOptions;
use crate::doc::{Block, Figure, Section, code};
use crate::plot::{CurvePlot, Plot};

/// The section (`None` when the run has no online-protocol rows).
pub fn section(curves: &[LearningCurve], board: &LeaderboardOptions) -> Option<Section> {
    if curves.is_empty() {
        return None;
    }
    let mut s = Section::new("Interactive: learning curves", "interactive");
    s.push(Block::Note(format!(
        "Online protocol: per test user, T rounds of a slate, its clicks, and adaptation. {} is the clicks in the \
         first T rounds, {} the expected reward of the oracle policy minus that of the slates shown (exact on \
         synthetic worlds, whose click probabilities are known), {} the clicks per item shown; their tables are in \
         the leaderboard above. The curves draw the mean over users (per-user values averaged over seeds) at each \
         horizon the suite lists (evenly spaced, not to scale). On replay suites (logged ratings), an item the user \
         never rated never clicks: the replay rewards recommending what users chose to rate, a bias towards rated \
         (often popular) items.",
        code("reward@T"),
        code("regret@T"),
        code("ctr@T")
    )));
    s.blocks.extend(curves.iter().map(|c| Block::Figure(figure(c, board))));
    Some(s)
}

fn figure(curve: &LearningCurve, board: &LeaderboardOptions) -> Figure {
    let place = format!("{} / {} / {}", curve.suite, curve.scenario, curve.family);
    let lines = curve.lines.iter().map(|l| (l.method.as_str(), l.points.as_slice()));
    let metric = format!("{}@{}", curve.family, curve.horizons.last().copied().unwrap_or(0));
    let series = super::robustness::curve_series(lines, &curve.horizons, &metric, board);
    let plot = CurvePlot {
        title: format!("{place}: cumulative {} (mean over users)", curve.family),
        title_detail: "(mean over users against the horizon T, one line per method)".into(),
        x_label: "rounds T (evenly spaced, not to scale)".into(),
        x_name: "T".into(),
        y_label: format!("{}@T", curve.family),
        xs: curve.horizons.iter().map(usize::to_string).collect(),
        marked_x: None,
        series,
    };
    Figure {
        plot: Plot::Curves(plot),
        caption: format!("Learning curve of {place}: cumulative {} after T rounds, mean over users.", curve.family),
        file: Some(["learning-curve", &curve.suite, &curve.scenario, &curve.family].map(String::from).to_vec()),
        place,
        what: "learning curve".into(),
    }
}
