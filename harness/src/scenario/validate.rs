//! Validation of a parsed scenario: what the product would not allow, and what the harness
//! cannot simulate, is refused with the line of the offending value.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;

use toml::Spanned;

use super::*;

/// The longest scenario name, in bytes.
const MAX_NAME_BYTES: usize = 128;
/// The longest file name most file systems take (ext4, NTFS in UTF-16 units, FAT's long names).
const MAX_FILE_NAME_BYTES: usize = 255;

pub(super) struct Validator<'a> {
    text: &'a str,
    path: &'a Path,
    /// The problems found so far. The independent parts of a file (the name, each hierarchy,
    /// each primary, each fault, the budgets, the expectations) are all checked, so one
    /// `scenario check` names every problem, not only the first.
    found: RefCell<Vec<ScenarioError>>,
}

impl<'a> Validator<'a> {
    pub(super) fn new(text: &'a str, path: &'a Path) -> Self {
        Self {
            text,
            path,
            found: RefCell::default(),
        }
    }

    /// The value of a check that passed; a failed one's error is kept for the report.
    fn keep<T>(&self, checked: Result<T, ScenarioError>) -> Option<T> {
        checked.map_err(|e| self.found.borrow_mut().push(e)).ok()
    }

    /// The line where `key` (`table.field`, or a top-level `field`) is written in the file: the
    /// field's own line, or its table's header (`[expect.severity]`).
    fn line_of_key(&self, key: &str) -> Option<usize> {
        let (table, field) = key.rsplit_once('.').unwrap_or(("", key));
        let mut current = String::new();
        for (index, line) in self.text.lines().enumerate() {
            let line = line.trim();
            if let Some(header) = line.strip_prefix('[') {
                current = header
                    .trim_matches(|c| c == '[' || c == ']')
                    .trim()
                    .to_string();
                if current == key {
                    return Some(index + 1);
                }
                continue;
            }
            let written = line
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"'))
                .filter(|k| !k.starts_with('#'));
            if current == table && written == Some(field) {
                return Some(index + 1);
            }
        }
        // Written another way — dotted (`probes.TEL_X = 5`) or inline (`probes = { TEL_X = 5 }`):
        // the first line that sets `field` as a key.
        self.text
            .lines()
            .position(|line| {
                let line = line.split('#').next().unwrap_or_default();
                line.match_indices(field).any(|(at, _)| {
                    let before = line[..at].trim_end_matches('"').chars().last();
                    let after = line[at + field.len()..]
                        .trim_start_matches('"')
                        .trim_start();
                    before.is_none_or(|c| matches!(c, ' ' | '.' | '{' | ',' | '\t'))
                        && after.starts_with('=')
                })
            })
            .map(|index| index + 1)
    }

    /// Where `field` of the table spanning `span` is written (`field = …`, `field.x = …`, or a
    /// `[….field]` header before the next `[[…]]`); the table's own span when it is not found.
    fn field_in(&self, span: std::ops::Range<usize>, field: &str) -> std::ops::Range<usize> {
        let rest = self.text.get(span.start..).unwrap_or_default();
        let end = rest
            .get(1..)
            .and_then(|r| r.find("\n[["))
            .map_or(rest.len(), |i| i + 1);
        let table = &rest[..end];
        let mut offset = 0;
        for line in table.split_inclusive('\n') {
            let trimmed = line.trim_start();
            let named = trimmed
                .strip_prefix(field)
                .is_some_and(|rest| rest.trim_start().starts_with(['=', '.']))
                || trimmed.trim_end().ends_with(&format!(".{field}]"));
            if named {
                let at = span.start + offset + (line.len() - trimmed.len());
                return at..at + trimmed.len();
            }
            offset += line.len();
        }
        span
    }

    fn error<T>(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        problem: impl Into<String>,
    ) -> Result<T, ScenarioError> {
        // Values without a span of their own are found by their key; a default has no line.
        let at = if span == (0..0) {
            self.line_of_key(key)
                .map_or(String::new(), |line| format!(":{line}"))
        } else {
            let line = self.text[..span.start.min(self.text.len())]
                .matches('\n')
                .count()
                + 1;
            format!(":{line}")
        };
        Err(ScenarioError::Invalid {
            path: self.path.to_path_buf(),
            at,
            key: key.to_string(),
            problem: problem.into(),
        })
    }

    pub(super) fn validate(&self, s: &Scenario) -> Result<(), ScenarioError> {
        self.keep(self.name(&s.name));
        let codes = self.keep(self.hierarchy(&s.hierarchy, "hierarchy"));
        for n in &s.neighbors {
            self.keep(self.neighbor(s, n));
        }
        let weeks = *s.run.weeks.get_ref();
        let weeks_valid = (1..=520).contains(&weeks);
        if !weeks_valid {
            self.keep(self.error::<()>(
                s.run.weeks.span(),
                "run.weeks",
                "simulate between 1 and 520 weekly cycles",
            ));
        }
        // The faults are checked against the sites and the weeks, so only when those are valid.
        if let Some(codes) = &codes
            && weeks_valid
        {
            let cas = s
                .hierarchy
                .cas
                .then(|| s.hierarchy.cas_code.get_ref().as_str());
            for fault in &s.faults {
                self.keep(self.fault(fault, weeks, codes, cas, s.hierarchy.scp_mode));
            }
            self.keep(self.one_level_change_a_week(&s.faults));
            self.keep(self.no_rename_onto_a_neighbour(s));
            self.keep(self.one_crash_point_a_pass(&s.faults));
            self.keep(self.primaries_run_within_the_run(s, weeks));
        }
        self.keep(self.budget(&s.budget));
        self.keep(self.expect(&s.expect));
        self.verdict()
    }

    /// Every problem found, in the file's line order (those without a line last).
    fn verdict(&self) -> Result<(), ScenarioError> {
        let mut found = self.found.take();
        let line = |e: &ScenarioError| match e {
            ScenarioError::Invalid { at, .. } => at
                .trim_start_matches(':')
                .parse::<usize>()
                .unwrap_or(usize::MAX),
            _ => usize::MAX,
        };
        found.sort_by_key(line);
        match found.len() {
            0 => Ok(()),
            1 => Err(found.remove(0)),
            _ => Err(ScenarioError::Several(found)),
        }
    }

    fn name(&self, name: &str) -> Result<(), ScenarioError> {
        if name.trim().is_empty() {
            return self.error(0..0, "name", "a scenario needs a name");
        }
        // A name is a folder's name under --out: file systems allow 255 bytes in a name.
        if name.len() > MAX_NAME_BYTES {
            return self.error(
                0..0,
                "name",
                format!(
                    "a name of at most {MAX_NAME_BYTES} bytes (this one has {}): it names the run's folder",
                    name.len()
                ),
            );
        }
        // A name is printed on terminals and in reports: no escape codes, no line breaks.
        if name.chars().any(unprintable) {
            return self.error(
                0..0,
                "name",
                "a name of printable characters (no control characters, line breaks, bidi overrides or zero-width marks)",
            );
        }
        Ok(())
    }

    fn neighbor(&self, s: &Scenario, n: &HierarchySpec) -> Result<(), ScenarioError> {
        self.hierarchy(n, "neighbors")?;
        if s.hierarchy.scp_mode != ScpMode::Offline || n.scp_mode != ScpMode::Offline {
            return self.error(
                n.installed.span(),
                "neighbors",
                "neighbouring hierarchies share the service connection tool's folder: every hierarchy must have `scp_mode = \"offline\"`",
            );
        }
        // Two hierarchies with the same cabinet name are allowed on purpose: that is the
        // field issue the finding `cab_name_clash` reproduces.
        Ok(())
    }

    /// A renamed cabinet may not take a neighbouring hierarchy's cabinet name (compared as the
    /// removable drives that carry them do, ignoring case): the rename would silently replace
    /// the other hierarchy's cabinet.
    fn no_rename_onto_a_neighbour(&self, s: &Scenario) -> Result<(), ScenarioError> {
        for to in s.faults.iter().filter_map(|f| f.to.as_ref()) {
            if let Some(n) = s
                .neighbors
                .iter()
                .position(|n| n.cab_name.get_ref().eq_ignore_ascii_case(to.get_ref()))
            {
                return self.error(
                    to.span(),
                    "faults.to",
                    format!(
                        "`{}` is the cabinet of neighbouring hierarchy {} in the shared transfer folder: the rename would replace it",
                        to.get_ref(),
                        n + 1
                    ),
                );
            }
        }
        Ok(())
    }

    fn budget(&self, budget: &Budget) -> Result<(), ScenarioError> {
        if let Some(ms) = budget.collect_ms_per_1k_clients
            && !(ms.is_finite() && ms > 0.0)
        {
            return self.error(
                0..0,
                "budget.collect_ms_per_1k_clients",
                "must be a positive number of milliseconds",
            );
        }
        for (table, probe, limit) in budget.per_probe() {
            if !(limit.is_finite() && limit > 0.0) {
                let unit = match table {
                    "probes" => "milliseconds",
                    _ => "virtual-machine steps",
                };
                return self.error(
                    0..0,
                    &format!("budget.{table}.{probe}"),
                    format!("must be a positive number of {unit} per 1,000 clients"),
                );
            }
        }
        if let Some(exponent) = budget.probe_scaling_exponent
            && !(exponent.is_finite() && exponent > 0.0)
        {
            return self.error(
                0..0,
                "budget.probe_scaling_exponent",
                "must be a positive number (1.0 is linear)",
            );
        }
        Ok(())
    }

    /// A child primary installed so late that its first run falls after the run's last cycle
    /// would never run: refused, so that a typo in a date does not quietly drop a site.
    fn primaries_run_within_the_run(&self, s: &Scenario, weeks: u32) -> Result<(), ScenarioError> {
        let Some(top) = parse_date(s.hierarchy.installed.get_ref()) else {
            return Ok(());
        };
        let last_upload = top + chrono::Days::new(7 * u64::from(weeks));
        for p in &s.hierarchy.primary {
            let Some(installed) = p.installed.as_ref() else {
                continue;
            };
            let Some(date) = parse_date(installed.get_ref()) else {
                continue;
            };
            let first_run = date + chrono::Days::new(7);
            if first_run > last_upload {
                return self.error(
                    installed.span(),
                    "hierarchy.primary.installed",
                    format!(
                        "{} would make its first run on {first_run}, after the run's last upload on {last_upload}: it would never run (simulate more weeks, or install it earlier)",
                        p.code.get_ref()
                    ),
                );
            }
        }
        Ok(())
    }

    /// Two `replication_crash` faults on one site in one cycle would leave it unsaid where the
    /// transaction dies.
    fn one_crash_point_a_pass(&self, faults: &[FaultSpec]) -> Result<(), ScenarioError> {
        let crashes: Vec<&FaultSpec> = faults
            .iter()
            .filter(|f| *f.kind.get_ref() == FaultKind::ReplicationCrash)
            .collect();
        for (i, a) in crashes.iter().enumerate() {
            for b in &crashes[..i] {
                let same_site = match (&a.site, &b.site) {
                    (Some(x), Some(y)) => x.get_ref().eq_ignore_ascii_case(y.get_ref()),
                    _ => false,
                };
                let (wa, wb) = (a.window(), b.window());
                if same_site && wa.first <= wb.last && wb.first <= wa.last {
                    return self.error(
                        a.kind.span(),
                        "faults.weeks",
                        "two replication_crash faults strike this site in one cycle: give each cycle one crash point",
                    );
                }
            }
        }
        Ok(())
    }

    fn one_level_change_a_week(&self, faults: &[FaultSpec]) -> Result<(), ScenarioError> {
        let mut level_changes = BTreeSet::new();
        for fault in faults
            .iter()
            .filter(|f| *f.kind.get_ref() == FaultKind::LevelChange)
        {
            if !level_changes.insert(fault.window().first) {
                return self.error(
                    fault.kind.span(),
                    "faults.week",
                    format!(
                        "two level changes in week {}: the level changes once a week at most",
                        fault.window().first
                    ),
                );
            }
        }
        Ok(())
    }

    /// `[expect]`: known finding codes, and nothing that would excuse lost data.
    fn expect(&self, e: &Expect) -> Result<(), ScenarioError> {
        if e.findings.iter().any(|c| c == "data_lost") || e.severity.contains_key("data_lost") {
            return self.error(
                0..0,
                "expect.findings",
                "`data_lost` cannot be expected or lowered: data that nothing explains is always a failure",
            );
        }
        for code in e.severity.keys() {
            if crate::finding::FindingCode::parse(code).is_none() {
                return self.error(
                    0..0,
                    "expect.severity",
                    format!("`{code}` is not a finding code"),
                );
            }
        }
        if let Some(twice) = e
            .findings
            .iter()
            .enumerate()
            .find(|(i, code)| e.findings[..*i].contains(code))
            .map(|(_, code)| code)
        {
            self.keep(self.error::<()>(
                0..0,
                "expect.findings",
                format!("`{twice}` is listed twice"),
            ));
        }
        if e.max_attempts == Some(0) {
            return self.error(
                0..0,
                "expect.max_attempts",
                "an upload takes at least 1 attempt",
            );
        }
        for code in &e.findings {
            if crate::finding::FindingCode::parse(code).is_none() {
                return self.error(
                    0..0,
                    "expect.findings",
                    format!(
                        "`{code}` is not a finding code; known: {}",
                        crate::finding::FindingCode::ALL
                            .iter()
                            .map(|c| c.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
        Ok(())
    }

    /// Validates one hierarchy (`key` is `hierarchy` or `neighbors`) and returns its site codes.
    /// An install date the calendar can count weeks from.
    fn install_date(&self, installed: &Spanned<String>, key: &str) -> Result<(), ScenarioError> {
        let h_installed = installed;
        let installed = parse_date(h_installed.get_ref()).ok_or(());
        if installed.is_ok_and(|d| !(1990..=9000).contains(&chrono::Datelike::year(&d))) {
            return self.error(
                h_installed.span(),
                &format!("{key}.installed"),
                "the install date must be between 1990 and 9000",
            );
        }
        if installed.is_err() {
            return self.error(
                h_installed.span(),
                &format!("{key}.installed"),
                format!("`{}` is not a YYYY-MM-DD date", h_installed.get_ref()),
            );
        }
        Ok(())
    }

    /// A primary's own install date: a date, on or after its CAS's; a stand-alone primary's
    /// install date is the hierarchy's.
    fn primary_install_date(
        &self,
        installed: &Spanned<String>,
        top: &Spanned<String>,
        cas: bool,
        key: &str,
    ) -> Result<(), ScenarioError> {
        let field = format!("{key}.primary.installed");
        self.install_date(installed, &format!("{key}.primary"))?;
        if !cas {
            return self.error(
                installed.span(),
                &field,
                format!("a stand-alone primary is the top-level site: its install date is `{key}.installed`"),
            );
        }
        if parse_date(installed.get_ref()) < parse_date(top.get_ref()) {
            return self.error(
                installed.span(),
                &field,
                format!(
                    "{} is before the CAS's install date {}: a child primary joins an installed CAS",
                    installed.get_ref(),
                    top.get_ref()
                ),
            );
        }
        Ok(())
    }

    fn hierarchy(&self, h: &HierarchySpec, key: &str) -> Result<BTreeSet<String>, ScenarioError> {
        // The hierarchy's own values are each checked and kept, so its primaries and the
        // faults are checked too.
        if let Some(id) = &h.id
            && uuid::Uuid::parse_str(id.get_ref()).is_err()
        {
            self.keep(self.error::<()>(
                id.span(),
                &format!("{key}.id"),
                format!("`{}` is not a GUID", id.get_ref()),
            ));
        }
        self.keep(self.install_date(&h.installed, key));
        if !is_product_version(h.version.get_ref()) {
            self.keep(self.error::<()>(
                h.version.span(),
                &format!("{key}.version"),
                format!(
                    "`{}` is not a product version like 5.00.8540.1000",
                    h.version.get_ref()
                ),
            ));
        }
        if h.primary.is_empty() {
            return self.error(
                0..0,
                &format!("{key}.primary"),
                format!("a hierarchy needs at least one [[{key}.primary]]"),
            );
        }
        if !h.cas && h.primary.len() > 1 {
            self.keep(self.error::<()>(
                h.primary[1].code.span(),
                &format!("{key}.primary"),
                "without a CAS a hierarchy is one stand-alone primary; set `cas = true` for more",
            ));
        }
        if h.cas && h.primary.len() > MAX_PRIMARIES_UNDER_CAS {
            self.keep(self.error::<()>(
                h.primary[MAX_PRIMARIES_UNDER_CAS].code.span(),
                &format!("{key}.primary"),
                format!("a CAS supports at most {MAX_PRIMARIES_UNDER_CAS} child primary sites"),
            ));
        }
        let mut codes = BTreeSet::new();
        if h.cas {
            self.keep(self.site_code(&h.cas_code, &format!("{key}.cas_code")));
            codes.insert(h.cas_code.get_ref().to_ascii_uppercase());
        }
        let mut total: u64 = 0;
        for p in &h.primary {
            total += u64::from(*p.clients.get_ref());
            // Each primary is checked on its own, so a problem in one does not hide another's.
            self.keep(self.primary(h, p, key, &mut codes, total));
        }
        if !h.cab_name.get_ref().to_ascii_lowercase().ends_with(".cab")
            || h.cab_name.get_ref().contains(['/', '\\'])
        {
            return self.error(
                h.cab_name.span(),
                &format!("{key}.cab_name"),
                "a file name ending in .cab, without a folder",
            );
        }
        Ok(codes)
    }

    /// One `[[….primary]]`; `total` is the hierarchy's clients up to and including it.
    fn primary(
        &self,
        h: &HierarchySpec,
        p: &PrimarySpec,
        key: &str,
        codes: &mut BTreeSet<String>,
        total: u64,
    ) -> Result<(), ScenarioError> {
        self.keep(self.site_code(&p.code, &format!("{key}.primary.code")));
        if !codes.insert(p.code.get_ref().to_ascii_uppercase()) {
            self.keep(self.error::<()>(
                p.code.span(),
                &format!("{key}.primary.code"),
                format!("site code `{}` is used twice", p.code.get_ref()),
            ));
        }
        let (max, what) = if h.cas {
            (MAX_CLIENTS_CHILD_PRIMARY, "a child primary site")
        } else {
            (MAX_CLIENTS_STANDALONE, "a stand-alone primary site")
        };
        if *p.clients.get_ref() > max {
            self.keep(self.error::<()>(
                p.clients.span(),
                &format!("{key}.primary.clients"),
                format!(
                    "{} clients is more than {what} supports ({max})",
                    p.clients.get_ref()
                ),
            ));
        }
        self.keep(self.counts(p, key));
        if let Some(mix) = &p.mix {
            for (field, problem) in mix.get_ref().problems() {
                let at = self.field_in(mix.span(), field);
                self.keep(self.error::<()>(at, &format!("{key}.primary.mix.{field}"), problem));
            }
        }
        if let Some(installed) = &p.installed {
            self.keep(self.primary_install_date(installed, &h.installed, h.cas, key));
        }
        // Said once, at the primary that takes the hierarchy past the bound.
        if total > MAX_CLIENTS_HIERARCHY
            && total - u64::from(*p.clients.get_ref()) <= MAX_CLIENTS_HIERARCHY
        {
            self.keep(self.error::<()>(
                p.clients.span(),
                &format!("{key}.primary.clients"),
                format!(
                    "the hierarchy now has {total} clients; a CAS supports {MAX_CLIENTS_HIERARCHY}"
                ),
            ));
        }
        Ok(())
    }

    /// Every count within its hard cap, and the site's rows within what one site may hold.
    fn counts(&self, p: &PrimarySpec, key: &str) -> Result<(), ScenarioError> {
        for bound in &COUNT_BOUNDS {
            let count = bound.of(p);
            if *count.get_ref() > bound.hard_cap {
                return self.error(
                    count.span(),
                    &format!("{key}.primary.{}", bound.key),
                    format!(
                        "{} is past the hard cap of {} (up to {} is supported; above that the run is labelled beyond support)",
                        count.get_ref(),
                        bound.hard_cap,
                        bound.supported
                    ),
                );
            }
        }
        let rows = SiteCounts::of(p).estimated_rows();
        if rows > MAX_ROWS_PER_SITE {
            return self.error(
                p.updates_per_client.span(),
                &format!("{key}.primary.updates_per_client"),
                format!(
                    "site {} would hold about {rows} rows (clients × (1 + updates_per_client) and its catalogs); one site may hold at most {MAX_ROWS_PER_SITE}",
                    p.code.get_ref()
                ),
            );
        }
        Ok(())
    }

    fn site_code(&self, code: &Spanned<String>, key: &str) -> Result<(), ScenarioError> {
        let c = code.get_ref();
        if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_alphanumeric()) {
            return self.error(
                code.span(),
                key,
                format!("`{c}` is not a site code: three letters or digits"),
            );
        }
        Ok(())
    }

    /// One fault: its count, its window, its site, its fields, its mode and each value, every
    /// refused one named (a fault with a bad window and a bad status tells both at once).
    fn fault(
        &self,
        f: &FaultSpec,
        weeks: u32,
        codes: &BTreeSet<String>,
        cas: Option<&str>,
        mode: ScpMode,
    ) -> Result<(), ScenarioError> {
        let kind = *f.kind.get_ref();
        if let Some(count) = &f.count
            && *count.get_ref() == 0
        {
            self.keep(self.error::<()>(
                count.span(),
                "faults.count",
                "a fault strikes at least once",
            ));
        }
        self.keep(self.fault_window(f, kind, weeks));
        self.keep(self.fault_site(f, kind, codes, cas));
        self.keep(self.fault_fields(f, kind));
        self.keep(self.fault_mode(f, kind, mode));
        self.fault_values(f);
        Ok(())
    }

    /// `week`, or `weeks` as a window, within the run.
    fn fault_window(
        &self,
        f: &FaultSpec,
        kind: FaultKind,
        weeks: u32,
    ) -> Result<(), ScenarioError> {
        let (span, key) = match (&f.week, &f.weeks) {
            (Some(_), Some(w)) => {
                return self.error(w.span(), "faults.weeks", "give `week` or `weeks`, not both");
            }
            (None, None) => {
                return self.error(
                    f.kind.span(),
                    "faults.week",
                    "say when: `week = N`, or `weeks = \"A..=B\"` / `weeks = [A, B]`",
                );
            }
            (Some(w), None) => (w.span(), "faults.week"),
            (None, Some(w)) => (w.span(), "faults.weeks"),
        };
        let window = f.window();
        if window.first == 0 || window.last > weeks {
            let which = if window.first == window.last {
                format!("week {} is", window.first)
            } else {
                format!("weeks {} to {} are", window.first, window.last)
            };
            return self.error(span, key, format!("{which} outside the run (1 to {weeks})"));
        }
        if kind == FaultKind::LevelChange && window.first != window.last {
            return self.error(
                span,
                "faults.weeks",
                "a level changes once: give `week`, not a window",
            );
        }
        Ok(())
    }

    /// The service connection point's mode the kind strikes.
    fn fault_mode(
        &self,
        f: &FaultSpec,
        kind: FaultKind,
        mode: ScpMode,
    ) -> Result<(), ScenarioError> {
        if matches!(
            kind,
            FaultKind::ScpDown | FaultKind::ScpRestart | FaultKind::UploadLostAck
        ) && mode != ScpMode::Online
        {
            return self.error(
                f.kind.span(),
                "faults.kind",
                format!(
                    "`{}` strikes the online service connection point: it needs `scp_mode = \"online\"`",
                    kind.name()
                ),
            );
        }
        if matches!(kind, FaultKind::CabCorrupted | FaultKind::CabRenamed)
            && mode != ScpMode::Offline
        {
            return self.error(
                f.kind.span(),
                "faults.kind",
                format!("`{}` needs `scp_mode = \"offline\"`", kind.name()),
            );
        }
        Ok(())
    }

    /// Each value a fault gives, in its own range: every refused one is kept.
    fn fault_values(&self, f: &FaultSpec) {
        if let Some(to) = &f.to {
            let name = to.get_ref();
            if matches!(name.as_str(), "" | "." | "..") || name.contains(['/', '\\', '\0']) {
                self.keep(self.error::<()>(
                    to.span(),
                    "faults.to",
                    "a file name, without a folder (not `.` or `..`)",
                ));
            } else if name.chars().any(crate::scenario::unprintable) {
                self.keep(self.error::<()>(
                    to.span(),
                    "faults.to",
                    "a file name of printable characters (no control or invisible ones)",
                ));
            } else if name.len() > MAX_FILE_NAME_BYTES {
                self.keep(self.error::<()>(
                    to.span(),
                    "faults.to",
                    format!(
                        "a file name of at most {MAX_FILE_NAME_BYTES} bytes (this one is {})",
                        name.len()
                    ),
                ));
            }
        }
        if let Some(at) = &f.at
            && CrashPoint::parse(at.get_ref()).is_none()
        {
            self.keep(self.error::<()>(
                at.span(),
                "faults.at",
                format!(
                    "`{}` is not a crash point: after_delete, mid_rows or before_watermark",
                    at.get_ref()
                ),
            ));
        }
        if let Some(level) = &f.level
            && let Err(problem) = Level::parse(level.get_ref())
        {
            self.keep(self.error::<()>(level.span(), "faults.level", problem));
        }
        if let Some(status) = &f.status
            && !(400..=599).contains(status.get_ref())
        {
            self.keep(self.error::<()>(
                status.span(),
                "faults.status",
                "an upstream fault status is 400 to 599",
            ));
        }
    }

    /// A fault's `site`: required by the kinds that strike one site, refused by the others.
    fn fault_site(
        &self,
        f: &FaultSpec,
        kind: FaultKind,
        codes: &BTreeSet<String>,
        cas: Option<&str>,
    ) -> Result<(), ScenarioError> {
        let needs_site = matches!(
            kind,
            FaultKind::ReplicationDown
                | FaultKind::ReplicationDuplicate
                | FaultKind::ReplicationCrash
                | FaultKind::SiteDbDown
        );
        match (&f.site, needs_site) {
            (None, true) => {
                return self.error(
                    f.kind.span(),
                    "faults.site",
                    format!("`{}` needs `site`", kind.name()),
                );
            }
            (Some(site), false) => {
                return self.error(
                    site.span(),
                    "faults.site",
                    format!("`{}` does not take `site`", kind.name()),
                );
            }
            (Some(site), true) => {
                if !codes.contains(&site.get_ref().to_ascii_uppercase()) {
                    return self.error(
                        site.span(),
                        "faults.site",
                        format!("no site `{}` in this hierarchy", site.get_ref()),
                    );
                }
                if kind != FaultKind::SiteDbDown
                    && cas.is_some_and(|c| c.eq_ignore_ascii_case(site.get_ref()))
                {
                    return self.error(
                        site.span(),
                        "faults.site",
                        format!(
                            "`{}` strikes a primary; the CAS does not replicate",
                            kind.name()
                        ),
                    );
                }
                if cas.is_none() && kind != FaultKind::SiteDbDown {
                    return self.error(
                        f.kind.span(),
                        "faults.kind",
                        "replication needs a CAS (`cas = true`)",
                    );
                }
            }
            (None, false) => {}
        }
        Ok(())
    }

    /// The fields a fault kind takes: each allowed one may be given, each required one must be.
    fn fault_fields(&self, f: &FaultSpec, kind: FaultKind) -> Result<(), ScenarioError> {
        let allowed: &[&str] = match kind {
            FaultKind::UpstreamStatus => &["status", "count"],
            FaultKind::UpstreamLatency => &["ms", "count"],
            FaultKind::UpstreamThrottle => &["retry_after_s", "count"],
            FaultKind::UpstreamReset => &["count"],
            FaultKind::ReplicationDown => &[],
            FaultKind::LevelChange => &["level"],
            FaultKind::CabCorrupted => &[],
            FaultKind::CabRenamed => &["to"],
            FaultKind::SiteDbDown
            | FaultKind::ScpDown
            | FaultKind::ScpRestart
            | FaultKind::ReplicationDuplicate => &[],
            FaultKind::UploadLostAck => &["count"],
            FaultKind::ReplicationCrash => &["at"],
        };
        let given = [
            ("status", f.status.as_ref().map(Spanned::span)),
            ("count", f.count.as_ref().map(Spanned::span)),
            ("ms", f.ms.as_ref().map(Spanned::span)),
            ("retry_after_s", f.retry_after_s.as_ref().map(Spanned::span)),
            ("level", f.level.as_ref().map(Spanned::span)),
            ("to", f.to.as_ref().map(Spanned::span)),
            ("at", f.at.as_ref().map(Spanned::span)),
        ];
        for (name, span) in given {
            match (span, allowed.contains(&name)) {
                (Some(span), false) => {
                    return self.error(
                        span,
                        &format!("faults.{name}"),
                        format!("`{}` does not take `{name}`", kind.name()),
                    );
                }
                // `count` defaults to 1 and `at` to `mid_rows`; the others have no default.
                (None, true) if !matches!(name, "count" | "at") => {
                    return self.error(
                        f.kind.span(),
                        &format!("faults.{name}"),
                        format!("`{}` needs `{name}`", kind.name()),
                    );
                }
                _ => {}
            }
        }
        // What the service takes (its admin API refuses more): an hour of latency, a day of
        // Retry-After.
        for (field, given, max, unit, bound) in [
            (
                "ms",
                &f.ms,
                usage_protocol::fault::MAX_LATENCY_MS,
                "ms",
                "(an hour) a latency fault may hold an answer",
            ),
            (
                "retry_after_s",
                &f.retry_after_s,
                usage_protocol::fault::MAX_RETRY_AFTER_S,
                "s",
                "(a day) a service asks a client to wait",
            ),
        ] {
            if let Some(value) = given
                && *value.get_ref() > max
            {
                return self.error(
                    value.span(),
                    &format!("faults.{field}"),
                    format!(
                        "{} {unit} is more than the {max} {unit} {bound}",
                        value.get_ref()
                    ),
                );
            }
        }
        Ok(())
    }
}

fn is_product_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

impl Scenario {
    /// Every probe a `[budget.probes]` or `[budget.probe_steps]` key names is one this run has
    /// (`level_of` gives a probe's level by name, from the run's catalog) and runs at a level
    /// the scenario reaches: a budget that could never be measured would be a gate that silently
    /// does nothing.
    pub fn check_budget_probes(
        &self,
        level_of: impl Fn(&str) -> Option<Level>,
    ) -> Result<(), ScenarioError> {
        let v = Validator::new(&self.text, &self.path);
        let highest = self
            .levels()
            .into_iter()
            .max()
            .unwrap_or(self.hierarchy.level);
        for (table, probe, _) in self.budget.per_probe() {
            let key = format!("budget.{table}.{probe}");
            let problem = match level_of(probe) {
                None => format!(
                    "no probe `{probe}` in this run's catalog (`harness probes` lists them; names are case-sensitive)"
                ),
                Some(level) if level > highest => format!(
                    "`{probe}` runs at the {} level, which this scenario never reaches (its highest is {}): the budget would never be measured",
                    level.as_str(),
                    highest.as_str()
                ),
                Some(_) => continue,
            };
            v.keep(v.error::<()>(0..0, &key, problem));
        }
        v.verdict()
    }
}
