//! `tour`'s options: which of the chapter's experiments, in which language, from which
//! profile.

use super::*;

/// `--lang` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LangArg {
    /// English.
    En,
    /// Korean (한국어).
    Ko,
}

fn parse_only(s: &str) -> Result<Selection, String> {
    Selection::parse(s).map_err(|e| e.to_string())
}

/// Options of `tour`.
#[derive(Args, Debug, Clone)]
pub struct TourArgs {
    /// The knobs both sides start from; the predictions follow them.
    #[arg(long, value_enum, default_value = "linux")]
    pub profile: ProfileArg,

    /// Run only one chapter item's experiments (e.g. 9) or one experiment by name
    /// (e.g. nagle); `--list` shows them.
    #[arg(long, value_name = "ITEM|NAME", value_parser = parse_only)]
    pub only: Option<Selection>,

    /// List the experiments (item, name, claim) without running them.
    #[arg(long)]
    pub list: bool,

    /// Print one JSON object instead of the text (docs/json.md).
    #[arg(long)]
    pub json: bool,

    /// Language of the claims and formulas [default: from LANG, else en].
    #[arg(long, value_enum)]
    pub lang: Option<LangArg>,

    /// Item 10 with the profile's own ports and 2MSL (the book: 60,000 ports, 120 s;
    /// minutes of virtual time, seconds of wall time) instead of both scaled down a
    /// hundredfold, which keeps the same ceiling.
    #[arg(long)]
    pub full: bool,

    /// Draw every setting's run as DIR/NAME-K.svg (the waterfall of `run --timeline`).
    #[arg(long, value_name = "DIR")]
    pub timeline: Option<PathBuf>,
}
