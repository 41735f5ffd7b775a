//! The SVG chart of a run.

use super::{Row, FIRMWARES};
use crate::qemu::MACHINE_TYPES;

/// Grouped bar charts, one panel per measure, log scale (the firmwares differ by orders of
/// magnitude), each bar labelled with its value; `title` (which QEMU) at the top right.
pub fn svg(rows: &[Row], title: &str) -> String {
    type Pick = fn(&Row) -> Option<f64>;
    let panels: [(&str, Pick); 4] = [
        ("guest instructions to kernel entry", |r| r.instructions.map(|v| v as f64)),
        ("VM exits before kernel entry (KVM)", |r| r.exits.map(|v| v as f64)),
        ("firmware wall time under KVM, ms", |r| r.kvm_ms.map(|s| s.median)),
        ("firmware wall time under TCG, ms", |r| r.tcg_ms.map(|s| s.median)),
    ];
    let colors = ["#2b8a3e", "#1c7ed6", "#868e96"];
    let (pw, ph, margin) = (460.0, 230.0, 40.0);
    let (width, height) = (2.0 * pw + 3.0 * margin, 2.0 * ph + 3.0 * margin + 30.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    s.push_str(&format!(
        "<text x=\"{}\" y=\"22\" text-anchor=\"end\" font-weight=\"bold\">{title}</text>\n",
        width - margin
    ));
    for (i, fw) in FIRMWARES.iter().enumerate() {
        let x = margin + i as f64 * 110.0;
        s.push_str(&format!(
            "<rect x=\"{x}\" y=\"12\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"22\">{fw}</text>\n",
            colors[i],
            x + 16.0
        ));
    }
    for (p, (title, pick)) in panels.iter().enumerate() {
        let (ox, oy) = (margin + (p % 2) as f64 * (pw + margin), 30.0 + margin + (p / 2) as f64 * (ph + margin));
        let values: Vec<f64> = rows.iter().filter_map(pick).filter(|v| *v > 0.0).collect();
        let top = values.iter().cloned().fold(1.0, f64::max).log10().ceil().max(1.0);
        let bottom = values.iter().cloned().fold(f64::MAX, f64::min).log10().floor().min(top - 1.0).min(0.0);
        let scale = |v: f64| (ph - 30.0) * ((v.max(10f64.powf(bottom)).log10() - bottom) / (top - bottom));
        s.push_str(&format!("<text x=\"{ox}\" y=\"{}\" font-weight=\"bold\">{title} (log scale)</text>\n", oy - 8.0));
        s.push_str(&format!(
            "<line x1=\"{ox}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n",
            oy + ph - 20.0,
            ox + pw,
            oy + ph - 20.0
        ));
        let group = pw / MACHINE_TYPES.len() as f64;
        for (mi, m) in MACHINE_TYPES.iter().enumerate() {
            let gx = ox + mi as f64 * group;
            s.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{m}</text>\n",
                gx + group / 2.0,
                oy + ph - 5.0
            ));
            for (fi, fw) in FIRMWARES.iter().enumerate() {
                let Some(v) = rows.iter().find(|r| r.machine == *m && r.firmware == *fw).and_then(pick) else {
                    continue;
                };
                let (bx, bw) = (gx + 12.0 + fi as f64 * (group - 24.0) / 3.0, (group - 24.0) / 3.0 - 4.0);
                if v <= 0.0 {
                    // A wall time below resolution.
                    s.push_str(&format!(
                        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"9\">≈0</text>\n",
                        bx + bw / 2.0,
                        oy + ph - 23.0
                    ));
                    continue;
                }
                let h = scale(v);
                let y = oy + ph - 20.0 - h;
                let label = if v >= 100.0 || v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") };
                s.push_str(&format!(
                    "<rect x=\"{bx:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{h:.1}\" fill=\"{}\"/>\
                     <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"9\">{label}</text>\n",
                    colors[fi],
                    bx + bw / 2.0,
                    y - 3.0
                ));
            }
        }
    }
    s.push_str("</svg>\n");
    s
}
