//! Version types for the matrix axes, parsed once with `semver` and never
//! compared as text.

use std::fmt;
use std::str::FromStr;

use semver::{BuildMetadata, Prerelease, Version};
use thiserror::Error;

/// A version string that did not parse; says what form was expected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("`{input}` is not a {what} version: {reason} (expected e.g. {example})")]
pub struct VersionError {
    /// The text as given.
    pub input: String,
    /// Which kind of version was wanted.
    pub what: &'static str,
    /// What was wrong with it.
    pub reason: String,
    /// A valid example.
    pub example: &'static str,
}

fn strip_v(input: &str) -> &str {
    input.strip_prefix('v').unwrap_or(input)
}

/// A Kubernetes release such as `v1.24.4`, or a k3s one such as
/// `v1.25.16+k3s4` (the build part is kept but never shown in tags).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion(Version);

impl KubeVersion {
    /// Builds a release version from its three numbers.
    pub fn new(major: u64, minor: u64, patch: u64) -> Self {
        KubeVersion(Version::new(major, minor, patch))
    }

    /// The minor release line this patch belongs to.
    pub fn minor(&self) -> KubeMinor {
        KubeMinor {
            major: self.0.major,
            minor: self.0.minor,
        }
    }

    /// The patch number.
    pub fn patch(&self) -> u64 {
        self.0.patch
    }

    /// The underlying semver value, for matching version requirements.
    pub fn semver(&self) -> &Version {
        &self.0
    }

    /// The form used inside tags: no `v`, no build metadata (`1.25.16`).
    pub fn tag_form(&self) -> String {
        let mut plain = self.0.clone();
        plain.build = BuildMetadata::EMPTY;
        plain.to_string()
    }
}

impl FromStr for KubeVersion {
    type Err = VersionError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Version::parse(strip_v(input.trim()))
            .map(KubeVersion)
            .map_err(|error| VersionError {
                input: input.to_string(),
                what: "Kubernetes",
                reason: error.to_string(),
                example: "`v1.24.4` or `1.25.16+k3s4`",
            })
    }
}

impl fmt::Display for KubeVersion {
    /// Prints `v1.24.4` (with build metadata when present).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A Kubernetes minor release line such as `1.24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeMinor {
    /// Major number (always 1 so far).
    pub major: u64,
    /// Minor number.
    pub minor: u64,
}

impl KubeMinor {
    /// The patch release `self.patch` of this line.
    pub fn patch(&self, patch: u64) -> KubeVersion {
        KubeVersion::new(self.major, self.minor, patch)
    }
}

impl FromStr for KubeMinor {
    type Err = VersionError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = |reason: &str| VersionError {
            input: input.to_string(),
            what: "Kubernetes minor",
            reason: reason.to_string(),
            example: "`1.24` or `v1.24`",
        };
        let (major, minor) = strip_v(input.trim())
            .split_once('.')
            .ok_or_else(|| error("it needs MAJOR.MINOR"))?;
        let number = |part: &str| {
            part.parse::<u64>()
                .map_err(|_| error(&format!("`{part}` is not a whole number")))
        };
        Ok(KubeMinor {
            major: number(major)?,
            minor: number(minor)?,
        })
    }
}

impl fmt::Display for KubeMinor {
    /// Prints `1.24` (tag templates add their own `v`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A sealos version: a release such as `4.1.3`, or the development line.
///
/// The development line carries the version it is heading to, so rules
/// written with version requirements (`sealos >= 5`) apply to it too.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SealosVersion {
    /// A published sealos release.
    Release(Version),
    /// The development build (`latest`), compared in rules as this version.
    Dev(Version),
}

impl SealosVersion {
    /// The version that rules compare against.
    pub fn compare_as(&self) -> &Version {
        match self {
            SealosVersion::Release(version) | SealosVersion::Dev(version) => version,
        }
    }

    /// True for the development line.
    pub fn is_dev(&self) -> bool {
        matches!(self, SealosVersion::Dev(_))
    }

    /// Parses a release version (`4.1.3` or `v4.1.3`); pre-releases are allowed.
    pub fn parse_release(input: &str) -> Result<Self, VersionError> {
        Version::parse(strip_v(input.trim()))
            .map(SealosVersion::Release)
            .map_err(|error| VersionError {
                input: input.to_string(),
                what: "sealos",
                reason: error.to_string(),
                example: "`4.1.3` or `v5.0.1`",
            })
    }

    /// A plain release version from its numbers.
    pub fn release(major: u64, minor: u64, patch: u64) -> Self {
        SealosVersion::Release(Version {
            major,
            minor,
            patch,
            pre: Prerelease::EMPTY,
            build: BuildMetadata::EMPTY,
        })
    }
}

impl fmt::Display for SealosVersion {
    /// Prints `4.1.3`, or `dev` for the development line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealosVersion::Release(version) => write!(f, "{version}"),
            SealosVersion::Dev(_) => f.write_str("dev"),
        }
    }
}

/// A version requirement such as `>=1.26` or `<=4.1.3`, kept with its text
/// so errors and explanations can quote it.
#[derive(Debug, Clone)]
pub struct Requirement {
    text: String,
    req: semver::VersionReq,
}

impl Requirement {
    /// True when `version` satisfies the requirement.
    pub fn matches(&self, version: &Version) -> bool {
        self.req.matches(version)
    }
}

impl FromStr for Requirement {
    type Err = VersionError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        semver::VersionReq::parse(input)
            .map(|req| Requirement {
                text: input.to_string(),
                req,
            })
            .map_err(|error| VersionError {
                input: input.to_string(),
                what: "requirement on a",
                reason: error.to_string(),
                example: "`>=1.26`, `<1.24` or `>=4.1.6, <5`",
            })
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Reads a registry tag as a Kubernetes release (`v1.31.2`), or says why
/// it is not one. A registry is untrusted input: besides the form
/// (`vMAJOR.MINOR.PATCH`, no pre-release, no leading zeros) the numbers must
/// be plausible next to what is already known (major 1, at most two minors
/// past the newest known one, patch below 100).
pub fn release_from_tag(tag: &str, newest_minor: Option<KubeMinor>) -> Result<KubeVersion, &'static str> {
    let numbers = tag.strip_prefix('v').ok_or("no leading `v`")?;
    let parts: Vec<&str> = numbers.split('.').collect();
    if parts.len() != 3 {
        return Err("not vMAJOR.MINOR.PATCH");
    }
    let mut values = [0u64; 3];
    for (value, part) in values.iter_mut().zip(&parts) {
        if part.is_empty()
            || !part.chars().all(|c| c.is_ascii_digit())
            || (part.len() > 1 && part.starts_with('0'))
        {
            return Err("not a release number (pre-release, build suffix or leading zero)");
        }
        *value = part.parse().map_err(|_| "a number too large")?;
    }
    let [major, minor, patch] = values;
    if major != 1 {
        return Err("Kubernetes releases are 1.x");
    }
    if patch >= 100 {
        return Err("an implausible patch number");
    }
    if let Some(newest) = newest_minor
        && minor > newest.minor + 2
    {
        return Err("a minor more than two past the newest known one");
    }
    Ok(KubeVersion::new(major, minor, patch))
}

crate::error::fault!(bad_input: VersionError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_tags_become_releases_only_when_plausible() {
        let newest = Some("1.34".parse::<KubeMinor>().unwrap());
        assert_eq!(
            release_from_tag("v1.34.2", newest).unwrap().to_string(),
            "v1.34.2"
        );
        assert!(release_from_tag("v1.36.0", newest).is_ok());
        for bad in [
            "v1.37.0",
            "v2.0.0",
            "v1.30.0-rc.1",
            "v1.30.01",
            "1.30.0",
            "v1.30",
            "v1.30.100",
            "latest",
            "v1.30.99999999999999999999",
        ] {
            assert!(release_from_tag(bad, newest).is_err(), "{bad}");
        }
    }

    #[test]
    fn kube_versions_parse_with_and_without_v() {
        let table = [
            ("v1.24.4", "v1.24.4", "1.24.4"),
            ("1.24.4", "v1.24.4", "1.24.4"),
            ("v1.25.16+k3s4", "v1.25.16+k3s4", "1.25.16"),
        ];
        for (input, shown, tag) in table {
            let version: KubeVersion = input.parse().expect(input);
            assert_eq!(version.to_string(), shown);
            assert_eq!(version.tag_form(), tag);
        }
    }

    #[test]
    fn bad_versions_are_rejected_with_an_example() {
        for input in ["1.24", "v1", "one.two.three", "", "1.24.x"] {
            let error = input.parse::<KubeVersion>().unwrap_err();
            assert!(error.to_string().contains("expected e.g."), "{error}");
        }
        for input in ["1", "1.x", "a.b", "1.2.3"] {
            assert!(input.parse::<KubeMinor>().is_err(), "{input}");
        }
    }

    #[test]
    fn versions_compare_as_numbers_not_text() {
        let small: KubeVersion = "1.9.0".parse().unwrap();
        let large: KubeVersion = "1.10.0".parse().unwrap();
        assert!(small < large);
        let minor: KubeMinor = "v1.9".parse().unwrap();
        assert!(minor < "1.10".parse().unwrap());
    }

    #[test]
    fn requirements_match_boundaries() {
        let req: Requirement = ">=1.26".parse().unwrap();
        assert!(req.matches(&Version::new(1, 26, 0)));
        assert!(!req.matches(&Version::new(1, 25, 16)));
        let req: Requirement = "<=4.1.3".parse().unwrap();
        assert!(req.matches(&Version::new(4, 1, 3)));
        assert!(!req.matches(&Version::new(4, 1, 4)));
        assert!("=>1.2".parse::<Requirement>().is_err());
    }

    #[test]
    fn dev_sorts_after_releases() {
        let dev = SealosVersion::Dev(Version::new(5, 1, 0));
        assert!(SealosVersion::release(5, 0, 1) < dev);
        assert_eq!(dev.to_string(), "dev");
    }
}

/// A calendar day (`2023-02-22`): when a Kubernetes patch was released, or
/// when a sealos release stopped building new ones. Compared as dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    year: u16,
    month: u8,
    day: u8,
}

impl Day {
    /// The day, if it exists in the calendar.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Day> {
        let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (1..=days).contains(&day).then_some(Day { year, month, day })
    }

    /// The UTC day of a Unix time in seconds (civil-from-days).
    pub fn from_unix(seconds: u64) -> Day {
        let days = i64::try_from(seconds / 86_400).unwrap_or(i64::MAX) + 719_468;
        let era = days.div_euclid(146_097);
        let doe = days.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Day {
            year: u16::try_from(year).unwrap_or(u16::MAX),
            month: u8::try_from(month).unwrap_or(1),
            day: u8::try_from(day).unwrap_or(1),
        }
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month (1-12).
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month.
    pub fn day(self) -> u8 {
        self.day
    }

    /// Today in UTC.
    pub fn today() -> Day {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Day::from_unix(now)
    }
}

impl FromStr for Day {
    type Err = VersionError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = || VersionError {
            input: input.to_string(),
            what: "date",
            reason: "it needs YYYY-MM-DD, a day that exists".to_string(),
            example: "`2023-02-22`",
        };
        let mut parts = input.trim().splitn(3, '-');
        let mut next = |len: usize| {
            parts
                .next()
                .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or_else(error)
        };
        let (year, month, day) = (next(4)?, next(2)?, next(2)?);
        Day::new(
            year,
            u8::try_from(month).map_err(|_| error())?,
            u8::try_from(day).map_err(|_| error())?,
        )
        .ok_or_else(error)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl<'de> serde::Deserialize<'de> for Day {
    /// Accepts a TOML date (`2023-02-22`) or the same as a string.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Date(toml::value::Datetime),
            Text(String),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Date(date) => date.to_string(),
            Raw::Text(text) => text,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod day_tests {
    use super::Day;

    #[test]
    fn days_parse_compare_and_come_from_unix_time() {
        let a: Day = "2023-02-22".parse().unwrap();
        let b: Day = "2023-03-15".parse().unwrap();
        assert!(a < b);
        assert_eq!(a.to_string(), "2023-02-22");
        for bad in [
            "2023-02-30",
            "2023-13-01",
            "23-02-01",
            "2023-2-01",
            "",
            "2023-02-22x",
        ] {
            assert!(bad.parse::<Day>().is_err(), "{bad}");
        }
        assert_eq!(Day::from_unix(0).to_string(), "1970-01-01");
        assert_eq!(Day::from_unix(1_677_024_000).to_string(), "2023-02-22");
        assert_eq!(Day::from_unix(951_782_400).to_string(), "2000-02-29");
    }
}
