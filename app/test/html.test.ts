// The html tagged template: escaping is the default, the output of `html` passes through as is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { html, SafeHtml } from '../src/web/html.ts';

// Under another name, so that Prettier leaves these literals' whitespace alone.
const render = html;

test('interpolated values are escaped unless they are html, and nothing else changes', () => {
  const name = `<script>alert("x" & 'y')</script>`;
  const escaped = '&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;';
  const rendered = render`<p title="${name}">${name} ${42} ${0} ${''} ${null} ${undefined} ${false}</p>`;
  assert.ok(rendered instanceof SafeHtml);
  assert.equal(rendered.value, `<p title="${escaped}">${escaped} 42 0    </p>`);
  assert.equal(
    render`<li>${['a&b', render`<b>bold</b>`, 7]}</li>`.value,
    '<li>a&amp;b<b>bold</b>7</li>',
  );
  assert.equal(render`${render`<i>${'<'}</i>`}`.value, '<i>&lt;</i>');
  assert.equal(render``.value, '');
  assert.equal(render`plain`.value, 'plain');
  assert.equal(`${render`<br />`}`, '<br />');
});
