//! The report as one self-contained HTML page: no external assets, no
//! network; a table per image, states spelled out in words (colour only
//! helps), rule and reason on hover or keyboard focus, a search box and
//! CRI / arch filters driven by a few lines of inline script.

use std::fmt::Write as _;

use super::report::{GridCell, ImageGrid, Report, State};

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The word a cell shows, and its description for screen readers.
fn words(state: State) -> (&'static str, &'static str) {
    match state {
        State::Planned => ("plan", "planned"),
        State::Published => ("pub", "published"),
        State::Missing => ("MISS", "missing"),
        State::Stale => ("STALE", "stale"),
        State::Excluded => ("excl", "excluded"),
        State::OutsideWindow => ("late", "outside the release window"),
        State::NotSelected => ("skip", "not selected"),
    }
}

fn state_class(state: State) -> &'static str {
    match state {
        State::Planned => "planned",
        State::Published => "published",
        State::Missing => "missing",
        State::Stale => "stale",
        State::Excluded => "excluded",
        State::OutsideWindow => "outside-window",
        State::NotSelected => "not-selected",
    }
}

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:1rem;color:#111;background:#fff}
header p{margin:.2rem 0}
.controls{position:sticky;top:0;background:#fff;padding:.5rem 0;border-bottom:1px solid #ccc;z-index:2;display:flex;gap:1rem;flex-wrap:wrap;align-items:end}
.controls label{display:flex;flex-direction:column;font-weight:600}
input,select{font:inherit;padding:.2rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:0 .25rem;text-align:center;white-space:nowrap}
thead th{position:sticky;top:3.2rem;background:#eee}
tbody th[scope=rowgroup]{text-align:left;background:#f4f4f4}
th[scope=row]{text-align:left;font-weight:normal}
.st{position:relative;display:inline-block;min-width:3.2em;border-radius:3px;cursor:default;font-size:12px}
.st:focus{outline:3px solid #1a5fb4;outline-offset:1px}
.planned{background:#dbeafe}.published{background:#d1fae5}.missing{background:#fecaca;font-weight:700}
.stale{background:#fde68a;font-weight:700}.excluded,.not-selected{color:#555;background:#f3f4f6}
.outside-window{color:#555;background:#ede9fe}
.alias{font-size:11px;color:#1a5fb4}
#tip{position:absolute;z-index:3;background:#111;color:#fff;padding:.3rem .5rem;border-radius:4px;max-width:26rem;font-size:13px;pointer-events:none}
dl.rules dt{font-weight:600;margin-top:.4rem}
.match{outline:3px solid #c01c28}
.dim{opacity:.2}
.hidden{display:none}
dl.counts{display:flex;gap:1rem;flex-wrap:wrap;margin:.3rem 0}
dl.counts div{display:flex;gap:.3rem}dl.counts dt{font-weight:600}
"#;

const SCRIPT: &str = r#"
(function(){
  var q=document.getElementById('q'),cri=document.getElementById('cri'),arch=document.getElementById('arch'),out=document.getElementById('result');
  var cells=Array.prototype.slice.call(document.querySelectorAll('.st'));
  function search(){
    var text=q.value.trim().toLowerCase(),found=[];
    cells.forEach(function(c){c.classList.remove('match');c.removeAttribute('aria-current');});
    if(text){cells.forEach(function(c){if(c.dataset.tag.toLowerCase().indexOf(text)>=0&&!c.closest('.hidden')){found.push(c);}});}
    found.forEach(function(c){c.classList.add('match');c.setAttribute('aria-current','true');});
    out.textContent=text?(found.length+' match'+(found.length==1?'':'es')+(found.length?': '+found.slice(0,5).map(function(c){return c.dataset.tag+' ('+c.dataset.state+')';}).join(', '):'')):'';
    if(found.length){found[0].scrollIntoView({block:'center'});}
    return found;
  }
  function filter(){
    document.querySelectorAll('section.image').forEach(function(s){s.classList.toggle('hidden',cri.value!==''&&s.dataset.cri!==cri.value);});
    cells.forEach(function(c){c.classList.toggle('dim',arch.value!==''&&c.dataset.arch.split(' ').indexOf(arch.value)<0);});
    search();
  }
  var tip=document.getElementById('tip');
  function show(e){var c=e.target.closest&&e.target.closest('.st');if(!c){return;}
    var by=c.getAttribute('aria-describedby'),reason=by?document.getElementById(by).textContent:'';
    tip.textContent=c.getAttribute('aria-label')+(reason?' — '+reason:'');
    var r=c.getBoundingClientRect();tip.style.left=(window.scrollX+r.left)+'px';tip.style.top=(window.scrollY+r.bottom+4)+'px';tip.hidden=false;}
  function hide(){tip.hidden=true;}
  document.addEventListener('mouseover',show);document.addEventListener('focusin',show);
  document.addEventListener('mouseout',hide);document.addEventListener('focusout',hide);
  q.addEventListener('input',search);cri.addEventListener('change',filter);arch.addEventListener('change',filter);
  var hash=decodeURIComponent(location.hash.replace(/^#/,''));
  hash.split('&').forEach(function(p){var kv=p.split('=');if(kv[0]==='q'){q.value=kv.slice(1).join('=');}if(kv[0]==='cri'){cri.value=kv[1];}if(kv[0]==='arch'){arch.value=kv[1];}});
  filter();
  var found=search();if(found.length){found[0].focus();}
})();
"#;

/// Rules by name, each with an element id, so a cell names its rule and
/// points at the reason once written (`aria-describedby`).
type Rules = std::collections::BTreeMap<String, (usize, String)>;

fn cell_html(out: &mut String, image: &str, cell: &GridCell, rules: &mut Rules) {
    let (word, described) = words(cell.state);
    let tag = format!("{image}:{}", cell.tag);
    let mut why = format!("{tag}: {described}");
    let mut described_by = String::new();
    if let Some(rule) = &cell.rule {
        let _ = write!(why, " by rule {rule}");
        let next = rules.len();
        let (id, _) = rules
            .entry(rule.clone())
            .or_insert_with(|| (next, cell.reason.clone().unwrap_or_default()));
        described_by = format!(" aria-describedby=\"rule-{id}\"");
    }
    if !cell.missing_from.is_empty() {
        let _ = write!(why, "; missing from {}", cell.missing_from.join(", "));
    }
    if !cell.aliases.is_empty() {
        let _ = write!(why, "; alias {} points here", cell.aliases.join(", "));
    }
    let _ = write!(
        out,
        "<td><span class=\"st {}\" tabindex=\"0\" role=\"img\" aria-label=\"{}\"{described_by} data-tag=\"{}\" data-state=\"{}\" data-arch=\"{}\">{word}</span>",
        state_class(cell.state),
        escape(&why),
        escape(&tag),
        described,
        escape(&cell.arches.join(" ")),
    );
    for alias in &cell.aliases {
        let _ = write!(out, "<br><span class=\"alias\">&#8656; {}</span>", escape(alias));
    }
    out.push_str("</td>");
}

fn image_html(out: &mut String, grid: &ImageGrid, rules: &mut Rules) {
    let id = format!("img-{}", escape(&grid.image));
    let _ = write!(
        out,
        "<section class=\"image\" data-cri=\"{}\" aria-labelledby=\"{id}\"><h2 id=\"{id}\">{} <small>({})</small></h2>",
        escape(&grid.cri),
        escape(&grid.image),
        escape(&grid.cri)
    );
    out.push_str("<dl class=\"counts\">");
    for (state, count) in &grid.counts {
        let _ = write!(out, "<div><dt>{}</dt><dd>{count}</dd></div>", words(*state).1);
    }
    out.push_str("</dl>");
    if !grid.lag.is_empty() {
        out.push_str("<ul class=\"lag\">");
        for lag in &grid.lag {
            let _ = write!(
                out,
                "<li>{}: {} planned index tags missing</li>",
                escape(&lag.registry),
                lag.missing
            );
        }
        out.push_str("</ul>");
    }
    let _ = write!(
        out,
        "<table><caption>{}: Kubernetes patch (rows) by sealos release (columns)</caption><thead><tr><th scope=\"col\">Kubernetes</th>",
        escape(&grid.image)
    );
    for sealos in &grid.sealos {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(sealos));
    }
    out.push_str("</tr></thead>");
    for minor in &grid.minors {
        let _ = write!(
            out,
            "<tbody><tr><th scope=\"rowgroup\" colspan=\"{}\">{}</th></tr>",
            grid.sealos.len() + 1,
            escape(&minor.minor)
        );
        for row in &minor.rows {
            let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(&row.kube));
            for cell in &row.cells {
                match cell {
                    Some(cell) => cell_html(out, &grid.image, cell, rules),
                    None => out.push_str("<td></td>"),
                }
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody>");
    }
    out.push_str("</table></section>");
}

/// The report as a complete HTML document.
pub fn html(report: &Report) -> String {
    let mut out = String::with_capacity(1 << 20);
    out.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>matrix: sealos cluster image compatibility</title><style>");
    out.push_str(STYLE);
    out.push_str("</style></head><body><header><h1>sealos cluster images: what is built for which Kubernetes and sealos</h1>");
    let _ = write!(
        out,
        "<p>Made {} from <code>{}</code>{}{}.</p>",
        escape(&report.generated),
        escape(&report.matrix),
        if report.registries.is_empty() {
            String::new()
        } else {
            format!(", compared with {}", escape(&report.registries.join(", ")))
        },
        report
            .from
            .as_ref()
            .map(|f| format!(" and the local builds in <code>{}</code>", escape(f)))
            .unwrap_or_default()
    );
    out.push_str("<p>Each cell is a multi-arch index tag: <b>pub</b> published, <b>plan</b> planned, <b>MISS</b> planned but missing from a registry, <b>STALE</b> published with another digest than the local build, <b>excl</b> excluded, <b>late</b> released after the sealos release was frozen, <b>skip</b> a patch the selection rule does not keep. Hover or focus a cell for its rule and reason; &#8656; marks the alias that points at it.</p></header>");
    out.push_str("<div class=\"controls\" role=\"search\"><label for=\"q\">Find a tag<input id=\"q\" type=\"search\" placeholder=\"v1.27.1-4.3.7\" autocomplete=\"off\"></label><label for=\"cri\">CRI<select id=\"cri\"><option value=\"\">all</option>");
    for grid in &report.images {
        let _ = write!(out, "<option value=\"{0}\">{0}</option>", escape(&grid.cri));
    }
    out.push_str("</select></label><label for=\"arch\">Arch<select id=\"arch\"><option value=\"\">all</option><option>amd64</option><option>arm64</option></select></label><p id=\"result\" role=\"status\" aria-live=\"polite\"></p></div><main>");
    let mut rules = Rules::new();
    for grid in &report.images {
        image_html(&mut out, grid, &mut rules);
    }
    out.push_str("<section aria-labelledby=\"rules\"><h2 id=\"rules\">Rules</h2><dl class=\"rules\">");
    for (name, (id, reason)) in &rules {
        let _ = write!(
            out,
            "<dt>{}</dt><dd id=\"rule-{id}\">{}</dd>",
            escape(name),
            escape(reason)
        );
    }
    out.push_str("</dl></section></main><div id=\"tip\" role=\"tooltip\" hidden></div><script>");
    out.push_str(SCRIPT);
    out.push_str("</script></body></html>\n");
    out
}
