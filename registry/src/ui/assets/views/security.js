// Security scans (FEATURE_SECURITY_SCANNER): each tag's status in the tag
// list, and one manifest's report: its vulnerabilities by severity, with
// the package, the installed and the fixed version, and its packages.

import { h, mount, table } from '../dom.js';
import { get, enc } from '../api.js';

/** Quay's severity order, worst first. */
const SEVERITIES = ['Critical', 'High', 'Medium', 'Low', 'Negligible', 'Unknown'];

function rank(severity) {
  const i = SEVERITIES.indexOf(severity);
  return i < 0 ? SEVERITIES.length : i;
}

function reportPath(path, digest) {
  return `/repository/${path}/manifest/${encodeURIComponent(digest)}/security?vulnerabilities=true`;
}

/** Every vulnerability of a report, one row per package and advisory. */
function vulnerabilities(data) {
  const out = [];
  for (const f of (data && data.Layer && data.Layer.Features) || []) {
    for (const v of f.Vulnerabilities || []) out.push({ ...v, Package: f.Name, Version: f.Version, AddedBy: f.AddedBy });
  }
  return out.sort((a, b) => rank(a.Severity) - rank(b.Severity) || a.Name.localeCompare(b.Name));
}

function counts(vulns) {
  const c = {};
  for (const v of vulns) c[v.Severity] = (c[v.Severity] || 0) + 1;
  return c;
}

const STATUS_TEXT = {
  queued: 'Queued',
  failed: 'Could not be scanned',
  unsupported: 'Unsupported',
  manifest_layer_too_large: 'Layer too large to scan',
};

/** The tag list's Security cell: filled in once the report is read. */
export function securityCell(repo, path, t) {
  const cell = h('span', { class: 'help', 'data-test': 'security-' + t.name }, '…');
  if (t.is_manifest_list) { cell.textContent = 'See child manifests'; return cell; }
  get(reportPath(path, t.manifest_digest)).then((r) => {
    if (r.status !== 'scanned') { cell.textContent = STATUS_TEXT[r.status] || r.status; return; }
    const vulns = vulnerabilities(r.data);
    const href = `/repository/${enc(repo.namespace)}/${enc(repo.name)}?tab=tags&security=${encodeURIComponent(t.manifest_digest)}&tag=${encodeURIComponent(t.name)}`;
    const c = counts(vulns);
    const worst = SEVERITIES.find((s) => c[s]);
    mount(cell, h('a', { href, 'data-link': true, class: worst ? `vuln-${worst}` : '' },
      vulns.length ? SEVERITIES.filter((s) => c[s]).map((s) => `${c[s]} ${s}`).join(' · ') : 'Passed'));
    cell.className = '';
  }).catch((e) => { cell.textContent = e.status === 503 ? 'Scanner unavailable' : 'Unknown'; cell.title = e.message; });
  return cell;
}

/** One manifest's security report. */
export async function securityView(body, repo, path, digest, tag) {
  const back = `/repository/${path}?tab=tags`;
  const r = await get(reportPath(path, digest));
  const head = [h('div', { class: 'breadcrumb' }, h('a', { href: back, 'data-link': true }, 'Tags'), ' / ', tag || digest.slice(0, 19), ' / Security report'),
    h('h2', { 'data-test': 'security-title' }, `Security report${tag ? ` of ${tag}` : ''}`),
    h('p', { class: 'digest' }, digest)];
  if (r.status !== 'scanned') {
    mount(body, head, h('div', { class: 'card', 'data-test': 'security-status' },
      r.status === 'queued' ? 'This image is queued for scanning; its report shows here once the scanner has indexed it.'
        : r.status === 'unsupported' ? 'The scanner does not scan this kind of manifest (a list of platforms, or an artifact that is no container image).'
          : STATUS_TEXT[r.status] || r.status));
    return;
  }
  const vulns = vulnerabilities(r.data);
  const c = counts(vulns);
  const features = (r.data.Layer.Features || []).slice().sort((a, b) => a.Name.localeCompare(b.Name));
  const filter = h('input', { type: 'search', placeholder: 'Filter by advisory or package', 'aria-label': 'Filter vulnerabilities', 'data-test': 'vuln-filter' });
  const fixable = h('input', { type: 'checkbox', 'data-test': 'vuln-fixable' });
  const list = h('div');
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = vulns.filter((v) => (!q || v.Name.toLowerCase().includes(q) || v.Package.toLowerCase().includes(q)) && (!fixable.checked || v.FixedBy));
    mount(list, table(['Advisory', 'Severity', 'Package', 'Current version', 'Fixed in version', 'Introduced in layer'], shown.map((v) => h('tr', { 'data-test': 'vuln-row' },
      h('td', {}, v.Link ? h('a', { href: v.Link.split(/\s+/)[0], rel: 'noopener noreferrer', target: '_blank' }, v.Name) : v.Name,
        v.Description ? h('div', { class: 'help' }, v.Description.slice(0, 200)) : null),
      h('td', { class: `vuln-${v.Severity}` }, v.Severity),
      h('td', {}, v.Package),
      h('td', {}, v.Version),
      h('td', {}, v.FixedBy || '—'),
      h('td', { class: 'digest', title: v.AddedBy }, (v.AddedBy || '').replace(/^sha256:/, '').slice(0, 12)))),
    vulns.length ? 'No vulnerability matches the filter.' : 'The scanner found no vulnerabilities in this image.'));
  };
  filter.addEventListener('input', draw);
  fixable.addEventListener('change', draw);
  draw();
  mount(body, head,
    h('div', { class: 'card', 'data-test': 'security-summary' },
      h('strong', {}, vulns.length ? `${vulns.length} vulnerabilities in ${features.length} packages` : `No vulnerabilities in ${features.length} packages`),
      h('div', {}, SEVERITIES.filter((s) => c[s]).map((s) => h('span', { class: `label vuln-${s}` }, `${c[s]} ${s}`)))),
    h('div', { class: 'toolbar' }, filter, h('label', { class: 'inline' }, fixable, 'Only fixable')),
    list,
    h('h2', {}, 'Packages'),
    table(['Package', 'Version', 'Vulnerabilities'], features.map((f) => h('tr', { 'data-test': 'package-row' },
      h('td', {}, f.Name), h('td', {}, f.Version), h('td', {}, String((f.Vulnerabilities || []).length)))), 'No packages found.'));
}
