//! The benchmark's results: rows of one table, notes on missed targets, the
//! machine they were measured on, and `BENCHMARKS.md` written from them.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The issue's item number and name, e.g. `1 boot`.
    pub item: &'static str,
    /// What was measured.
    pub what: String,
    /// The figure, with what it was compared with in the same run.
    pub result: String,
    /// The product's target, when there is one for this row.
    pub target: Option<String>,
    /// Whether the target was met; `None` when there is no target or no
    /// figure to judge it by.
    pub met: Option<bool>,
}

impl Row {
    /// A row with no target: a figure shown for context.
    pub fn info(item: &'static str, what: impl Into<String>, result: impl Into<String>) -> Row {
        Row {
            item,
            what: what.into(),
            result: result.into(),
            target: None,
            met: None,
        }
    }

    /// A row judged against `target`.
    pub fn judged(
        item: &'static str,
        what: impl Into<String>,
        result: impl Into<String>,
        target: impl Into<String>,
        met: bool,
    ) -> Row {
        Row {
            item,
            what: what.into(),
            result: result.into(),
            target: Some(target.into()),
            met: Some(met),
        }
    }

    /// A row for something that could not be measured in this run.
    pub fn not_measured(item: &'static str, what: impl Into<String>, why: &str) -> Row {
        Row::info(item, what, format!("not measured: {why}"))
    }

    fn verdict(&self) -> &'static str {
        match self.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None if self.target.is_some() => "-",
            None => "",
        }
    }
}

/// What one benchmark item produced: rows, and notes explaining them (how
/// it was measured, what holds back a missed target).
#[derive(Debug, Default)]
pub struct Section {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

/// The machine the figures come from.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpus: String,
    pub cpu_model: String,
    pub kernel: String,
    pub qemu: String,
    pub date: String,
    /// /proc/loadavg's first three fields when the run started: other work
    /// on the host slows the emulated CPU down.
    pub load: String,
}

impl Machine {
    /// Read it from `nproc`, /proc/cpuinfo, `uname -r`, `qemu-system-x86_64
    /// --version` and `date -u`.
    pub fn detect() -> Machine {
        let cpu_model = fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cpus: command_line("nproc", &[]),
            cpu_model,
            kernel: command_line("uname", &["-r"]),
            qemu: command_line("qemu-system-x86_64", &["--version"]),
            date: command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            load: load_average(),
        }
    }
}

/// The 1, 5 and 15 minute load averages of the host.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

/// First line of a command's output, or why there is none.
fn command_line(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string(),
        Ok(out) => format!("`{program}` exited {}", out.status),
        Err(e) => format!("`{program}`: {e}"),
    }
}

/// All rows of every section, in order.
fn all_rows<'a>(sections: &'a [(&str, Section)]) -> Vec<&'a Row> {
    sections.iter().flat_map(|(_, s)| &s.rows).collect()
}

/// The table as plain text, columns padded, for the terminal.
pub fn text_table(sections: &[(&str, Section)]) -> String {
    let header = ["item", "measure", "result", "target", ""];
    let rows: Vec<[String; 5]> = all_rows(sections)
        .into_iter()
        .map(|r| {
            [
                r.item.to_string(),
                r.what.clone(),
                r.result.clone(),
                r.target.clone().unwrap_or_default(),
                r.verdict().to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: [&str; 5]| {
        let mut text = String::new();
        for (cell, w) in cells.iter().zip(widths) {
            let _ = write!(text, "{cell:<w$}  ");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut out, header);
    line(
        &mut out,
        widths.map(|w| "-".repeat(w)).each_ref().map(String::as_str),
    );
    for row in &rows {
        line(&mut out, row.each_ref().map(String::as_str));
    }
    out
}

/// The table in Markdown.
fn markdown_table(sections: &[(&str, Section)]) -> String {
    let mut out = String::from("| item | measure | result | target | |\n|---|---|---|---|---|\n");
    for r in all_rows(sections) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            r.item,
            cell(&r.what),
            cell(&r.result),
            cell(r.target.as_deref().unwrap_or("")),
            r.verdict()
        );
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// `BENCHMARKS.md`: machine, date, command, the table, the targets and
/// whether each was met, and the notes of every section.
pub fn markdown(machine: &Machine, elapsed: Duration, sections: &[(&str, Section)]) -> String {
    let mut out = String::new();
    out.push_str("# Benchmarks\n\n");
    out.push_str(
        "Written by `cargo bench --bench appliance` (see README.md, \"Benchmarks\"); \
         every figure below comes from one run of it on the machine named here. \
         The appliance runs in QEMU under TCG (no KVM), in the lab of network \
         namespaces the end-to-end tests use, so absolute times are those of an \
         emulated CPU; comparisons are made side by side in the same run and \
         the same VM.\n\n",
    );
    let _ = writeln!(out, "## Machine\n");
    let _ = writeln!(out, "- date: {}", machine.date);
    let _ = writeln!(out, "- CPUs (`nproc`): {}", machine.cpus);
    let _ = writeln!(out, "- CPU: {}", machine.cpu_model);
    let _ = writeln!(out, "- host kernel: {}", machine.kernel);
    let _ = writeln!(out, "- QEMU: {}", machine.qemu);
    let _ = writeln!(
        out,
        "- host load average (1, 5, 15 min): {} at the start, {} at the end \
         (other work on the host slows the emulated CPU down)",
        machine.load,
        load_average()
    );
    let _ = writeln!(out, "- run took: {:.0} s\n", elapsed.as_secs_f64());
    let _ = writeln!(out, "## Results\n");
    out.push_str(&markdown_table(sections));
    out.push('\n');

    let _ = writeln!(out, "## Targets\n");
    let judged: Vec<&Row> = all_rows(sections)
        .into_iter()
        .filter(|r| r.target.is_some())
        .collect();
    for r in judged {
        let verdict = match r.met {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "not judged",
        };
        let _ = writeln!(
            out,
            "- {} — {}: target {}, result {}: {verdict}",
            r.item,
            r.what,
            r.target.as_deref().unwrap_or(""),
            r.result
        );
    }
    out.push('\n');

    let _ = writeln!(out, "## Notes\n");
    for (title, section) in sections {
        if section.notes.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {title}\n");
        for note in &section.notes {
            let _ = writeln!(out, "{note}\n");
        }
    }
    out
}

/// Write `BENCHMARKS.md` at the repository root.
pub fn write(repo: &Path, text: &str) -> std::io::Result<()> {
    fs::write(repo.join("BENCHMARKS.md"), text)
}

/// Median of `values` (the mean of the two middle ones for an even count).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `median (min–max)` of `values`, each shown with `unit` and `decimals`.
pub fn spread(values: &[f64], unit: &str, decimals: usize) -> String {
    if values.is_empty() {
        return "no sample".into();
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "median {:.decimals$} {unit} (min {:.decimals$}, max {:.decimals$}, n={})",
        median(values),
        min,
        max,
        values.len()
    )
}
