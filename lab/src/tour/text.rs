//! The tour's words, one table per language ([`text_en`](super::text_en),
//! [`text_ko`](super::text_ko)): the code asks for a [`Key`] and never holds a
//! sentence itself, so another language is one more table.

use super::Name;

/// A language the tour speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Korean: the chapter was studied from a Korean translation.
    Ko,
}

impl Lang {
    /// Every language, in the order `--lang` lists them.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ko];

    /// The code `--lang` takes.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ko => "ko",
        }
    }

    /// The language a locale string such as `ko_KR.UTF-8` (`LANG`) asks for, if the
    /// tour speaks it.
    pub fn from_locale(locale: &str) -> Option<Lang> {
        let code = locale.split(['_', '.', '-', '@']).next()?;
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(code))
    }

    /// The text of `key` in this language.
    pub fn text(self, key: Key) -> &'static str {
        match self {
            Lang::En => super::text_en::text(key),
            Lang::Ko => super::text_ko::text(key),
        }
    }
}

/// Everything the tour says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// The tour's heading.
    Title,
    /// "profile" before the profile's name.
    Profile,
    /// "item" before a chapter item number.
    Item,
    /// The heading of the predicted column.
    Predicted,
    /// The heading of the measured column.
    Measured,
    /// "within" before a tolerance.
    Within,
    /// A passing mark.
    Pass,
    /// A failing mark.
    Fail,
    /// "where the time went" before the dominant cause.
    Blame,
    /// "reproduce" before a command.
    Reproduce,
    /// The summary's heading.
    Summary,
    /// "chapter items covered".
    Covered,
    /// "settings whose prediction held".
    Passed,
    /// "the biggest effects measured".
    Biggest,
    /// What the extra count of item 24 is.
    LostBytes,
    /// What the extra count of item 22 is.
    FailedTransactions,
    /// What the extra count of item 23 is.
    Retries,
    /// Shown where a setting predicts a count but not a time.
    NoTimePrediction,
    /// A claim of the chapter, in one line.
    Claim(Name),
    /// The formula in words, and what about the theory is subtle.
    Why(Name),
}
