//! The plot: user-space instructions per unit, grouped by case, one bar per variant, log
//! scale. Plain SVG text, no plotting library.

use crate::cases::Group;
use crate::report::{put, Row};
use crate::variants::ALL;
use std::fmt::Write;

/// One colour per variant in `ALL` order: greys for the two hand-written loops, blues for
/// barepoll, then the peers (a lighter shade for a boxed-closure variant).
const COLORS: [&str; 11] = [
    "#4d4d4d", "#a6a6a6", "#08519c", "#6baed6", "#d95f02", "#fdae6b", "#1b9e77", "#99d8c9",
    "#7570b3", "#e7298a", "#a6761d",
];
const WIDTH: f64 = 1240.0;
const HEIGHT: f64 = 460.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 84.0;
const BOTTOM: f64 = 56.0;
const PER_LEGEND_ROW: usize = 6;

/// The plot of the fd cases (the timer and remote tables have columns of their own).
pub fn svg(rows: &[Row]) -> String {
    let rows: Vec<&Row> = rows
        .iter()
        .filter(|r| r.case.group() == Group::Fds && r.instr.iter().any(Option::is_some))
        .collect();
    let plot_h = HEIGHT - TOP - BOTTOM;
    let max = rows
        .iter()
        .flat_map(|r| r.instr.iter().flatten())
        .fold(1.0f64, |m, &v| m.max(v));
    let decades = max.log10().ceil().max(1.0);
    let y = |v: f64| TOP + plot_h * (1.0 - v.max(1.0).log10() / decades);
    let group_w = (WIDTH - LEFT - RIGHT) / rows.len().max(1) as f64;
    let bar_w = group_w * 0.86 / ALL.len() as f64;

    let mut s = String::new();
    put!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    put!(
        s,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    put!(
        s,
        r#"<text x="{LEFT}" y="18" font-size="14">User-space instructions per wait, event or add+delete pair (callgrind, log scale; fewer is better)</text>"#
    );
    for d in 0..=decades as i32 {
        let (v, yy) = (10f64.powi(d), y(10f64.powi(d)));
        put!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/>"##,
            WIDTH - RIGHT
        );
        put!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{v}</text>"#,
            LEFT - 6.0,
            yy + 4.0
        );
    }
    for (i, variant) in ALL.iter().enumerate() {
        let x = LEFT + (i % PER_LEGEND_ROW) as f64 * 190.0;
        let yy = 32.0 + (i / PER_LEGEND_ROW) as f64 * 16.0;
        put!(
            s,
            r#"<rect x="{x}" y="{yy}" width="10" height="10" fill="{}"/>"#,
            COLORS[i]
        );
        put!(
            s,
            r#"<text x="{}" y="{}">{}</text>"#,
            x + 14.0,
            yy + 9.0,
            variant.label
        );
    }
    for (g, row) in rows.iter().enumerate() {
        let x0 = LEFT + (g as f64 + 0.07) * group_w;
        for (i, value) in row.instr.iter().enumerate() {
            let Some(v) = *value else { continue };
            let (x, yy) = (x0 + i as f64 * bar_w, y(v));
            let label = if v < 100.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.0}")
            };
            put!(
                s,
                r#"<rect x="{x:.1}" y="{yy:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {v:.1}</title></rect>"#,
                bar_w - 1.0,
                TOP + plot_h - yy,
                COLORS[i],
                ALL[i].label
            );
            put!(
                s,
                r#"<text transform="translate({:.1},{:.1}) rotate(-90)" font-size="9">{label}</text>"#,
                x + bar_w / 2.0 + 3.0,
                yy - 3.0
            );
        }
        let cx = LEFT + (g as f64 + 0.5) * group_w;
        for (k, part) in row.case.label.split(", ").enumerate() {
            let ty = TOP + plot_h + 16.0 + 14.0 * k as f64;
            put!(
                s,
                r#"<text x="{cx:.1}" y="{ty:.1}" text-anchor="middle">{part}</text>"#
            );
        }
    }
    put!(s, "</svg>");
    s
}
