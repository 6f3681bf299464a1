/**
 * A tiny document model so each report is written once and rendered as
 * Markdown or as a self-contained HTML page (every value escaped).
 */

export type Block =
  | { kind: 'heading'; level: 1 | 2 | 3; text: string }
  | { kind: 'text'; text: string }
  | { kind: 'list'; items: string[]; ordered?: boolean }
  | { kind: 'table'; headers: string[]; rows: string[][] }
  | { kind: 'code'; text: string };

export const h = (level: 1 | 2 | 3, text: string): Block => ({ kind: 'heading', level, text });
export const p = (text: string): Block => ({ kind: 'text', text });
export const list = (items: string[], ordered = false): Block => ({ kind: 'list', items, ordered });
export const table = (headers: string[], rows: string[][]): Block => ({
  kind: 'table',
  headers,
  rows,
});
export const code = (text: string): Block => ({ kind: 'code', text });

function mdCell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function renderMarkdown(blocks: readonly Block[]): string {
  const out: string[] = [];
  for (const b of blocks) {
    switch (b.kind) {
      case 'heading':
        out.push(`${'#'.repeat(b.level)} ${b.text}`);
        break;
      case 'text':
        out.push(b.text);
        break;
      case 'list':
        out.push(b.items.map((i, n) => `${b.ordered ? `${n + 1}.` : '-'} ${i}`).join('\n'));
        break;
      case 'table':
        out.push(
          [
            `| ${b.headers.map(mdCell).join(' | ')} |`,
            `|${b.headers.map(() => '---').join('|')}|`,
            ...b.rows.map((r) => `| ${r.map(mdCell).join(' | ')} |`),
          ].join('\n'),
        );
        break;
      case 'code':
        out.push(`\`\`\`\n${b.text}\n\`\`\``);
        break;
    }
  }
  return `${out.join('\n\n')}\n`;
}

export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

// Backticks in our texts mark commands; render them as <code> after escaping.
function inline(s: string): string {
  return escapeHtml(s).replace(/`([^`]+)`/g, '<code>$1</code>');
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#1b1f24;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em;width:100%}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}code,pre{background:#f6f8fa;border-radius:4px;padding:1px 4px}pre{padding:8px;overflow:auto}
td.blocker,td.blocked{color:#b42318;font-weight:600}td.ready,td.ready-after-conversion{color:#1a7f37}`;

export function renderHtml(title: string, blocks: readonly Block[]): string {
  const body: string[] = [];
  for (const b of blocks) {
    switch (b.kind) {
      case 'heading':
        body.push(`<h${b.level}>${inline(b.text)}</h${b.level}>`);
        break;
      case 'text':
        body.push(`<p>${inline(b.text)}</p>`);
        break;
      case 'list': {
        const tag = b.ordered ? 'ol' : 'ul';
        body.push(`<${tag}>${b.items.map((i) => `<li>${inline(i)}</li>`).join('')}</${tag}>`);
        break;
      }
      case 'table':
        body.push(
          `<table><thead><tr>${b.headers.map((x) => `<th>${inline(x)}</th>`).join('')}</tr></thead><tbody>${b.rows
            .map(
              (r) =>
                `<tr>${r.map((c) => `<td class="${escapeHtml(c.split(' ')[0] ?? '')}">${inline(c)}</td>`).join('')}</tr>`,
            )
            .join('')}</tbody></table>`,
        );
        break;
      case 'code':
        body.push(`<pre>${escapeHtml(b.text)}</pre>`);
        break;
    }
  }
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>\n<body>\n${body.join('\n')}\n</body></html>\n`;
}
