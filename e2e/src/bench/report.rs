//! The result table: metric | ours | distribution | ratio ours/theirs; and [`Grid`], the
//! printer under it, for tables with other columns.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

pub struct Row {
    pub metric: String,
    pub better: Better,
    pub decimals: usize,
    pub ours: Result<f64, String>,
    pub theirs: Result<f64, String>,
}

impl Row {
    fn label(&self) -> String {
        let dir = match self.better {
            Better::Higher => "higher is better",
            Better::Lower => "lower is better",
        };
        format!("{} ({dir})", self.metric)
    }

    fn cell(&self, v: &Result<f64, String>) -> String {
        match v {
            Ok(x) => format!("{x:.*}", self.decimals),
            Err(_) => "ERROR".to_string(),
        }
    }

    fn ratio(&self) -> String {
        match (&self.ours, &self.theirs) {
            (Ok(o), Ok(t)) if *t > 0.0 => format!("{:.2}x", o / t),
            _ => "n/a".to_string(),
        }
    }
}

pub struct Table {
    pub ours_name: String,
    pub theirs_name: String,
    /// The ratio column's heading, e.g. `ratio ours/theirs`.
    pub ratio_name: String,
    pub rows: Vec<Row>,
}

impl Table {
    fn cells(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let header = vec![
            "metric".to_string(),
            self.ours_name.clone(),
            self.theirs_name.clone(),
            self.ratio_name.clone(),
        ];
        let body = self
            .rows
            .iter()
            .map(|r| vec![r.label(), r.cell(&r.ours), r.cell(&r.theirs), r.ratio()])
            .collect();
        (header, body)
    }

    pub fn plain(&self) -> String {
        let (header, rows) = self.cells();
        Grid { header, rows }.plain()
    }

    pub fn markdown(&self) -> String {
        let (header, rows) = self.cells();
        Grid { header, rows }.markdown()
    }

    /// Each distinct error once, with the metrics it spoiled.
    pub fn errors(&self) -> Vec<String> {
        let mut seen: Vec<(String, Vec<String>)> = Vec::new();
        for r in &self.rows {
            for (side, v) in [(&self.ours_name, &r.ours), (&self.theirs_name, &r.theirs)] {
                if let Err(e) = v {
                    let msg = format!("[{side}] {e}");
                    match seen.iter_mut().find(|(m, _)| *m == msg) {
                        Some((_, metrics)) => metrics.push(r.metric.clone()),
                        None => seen.push((msg, vec![r.metric.clone()])),
                    }
                }
            }
        }
        seen.into_iter()
            .map(|(msg, metrics)| format!("{msg}\n  (affects: {})", metrics.join("; ")))
            .collect()
    }
}

/// Text cells under a header, printed as aligned plain text or as markdown: the first
/// column left-aligned, the others right-aligned.
pub struct Grid {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Grid {
    pub fn plain(&self) -> String {
        let mut w: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, c) in row.iter().enumerate().take(w.len()) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let fmt = |row: &[String]| {
            let mut s = String::new();
            for (i, c) in row.iter().enumerate().take(w.len()) {
                if i == 0 {
                    s.push_str(&format!("{c:<width$}", width = w[0]));
                } else {
                    s.push_str(" | ");
                    s.push_str(&format!("{c:>width$}", width = w[i]));
                }
            }
            s
        };
        let mut out = fmt(&self.header);
        out.push('\n');
        let sep: Vec<String> = w.iter().map(|n| "-".repeat(*n)).collect();
        out.push_str(&sep.join("-+-"));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&fmt(row));
            out.push('\n');
        }
        out
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("| {} |\n|---|", self.header.join(" | "));
        out.push_str(&"---:|".repeat(self.header.len().saturating_sub(1)));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out
    }
}
