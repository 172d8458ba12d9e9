// What Grafana 11 and 12 need of a dashboard file to provision and show it, as a zod schema: the
// provisioning side (title, a valid uid, no database id), and what the dashboard page reads
// without defaults (annotations.list, templating.list, panels with ids and a 24-column grid,
// queries with a refId and a known datasource). The Foundation SDK types the dashboard while it
// is written; this checks the JSON that comes out, including the parts the SDK leaves open.
import { z } from 'zod';

/** Dashboard schema versions Grafana 11.6 and 12.x migrate from (41 is 11.6's own). */
export const SCHEMA_VERSIONS = { min: 36, max: 41 };

/** Core panel plugins this repository uses (present in every Grafana 11 and 12). */
export const CORE_PANELS = [
  'row',
  'timeseries',
  'stat',
  'table',
  'geomap',
  'bargauge',
  'state-timeline',
] as const;

const datasourceRef = z.strictObject({ type: z.string().min(1), uid: z.string().min(1) });

const gridPos = z
  .object({
    x: z.int().min(0).max(23),
    y: z.int().min(0),
    w: z.int().min(1).max(24),
    h: z.int().min(1),
  })
  .refine((pos) => pos.x + pos.w <= 24, { message: 'the panel goes past the 24th column' });

const target = z.looseObject({
  refId: z.string().regex(/^[A-Z]$/, 'expected a refId A…Z'),
  datasource: datasourceRef,
});

const panel = z
  .looseObject({
    id: z.int().positive(),
    type: z.enum(CORE_PANELS),
    title: z.string().min(1),
    gridPos,
    datasource: datasourceRef.optional(),
    targets: z.array(target).optional(),
  })
  .superRefine((value, ctx) => {
    if (value.type === 'row') return;
    if (!value.targets?.length)
      ctx.addIssue({ code: 'custom', message: `panel "${value.title}" has no query` });
    const refIds = (value.targets ?? []).map((t) => t.refId);
    if (new Set(refIds).size !== refIds.length)
      ctx.addIssue({ code: 'custom', message: `panel "${value.title}" repeats a refId` });
  });

export const dashboardSchema = z
  .looseObject({
    uid: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, 'expected a uid of 1-40 of A-Z a-z 0-9 _ -'),
    title: z.string().min(1),
    schemaVersion: z.int().min(SCHEMA_VERSIONS.min).max(SCHEMA_VERSIONS.max),
    editable: z.boolean(),
    tags: z.array(z.string()),
    time: z.strictObject({ from: z.string(), to: z.string() }),
    annotations: z.looseObject({ list: z.array(z.looseObject({ name: z.string() })) }),
    templating: z
      .looseObject({ list: z.array(z.looseObject({ name: z.string().regex(/^\w+$/) })) })
      .optional(),
    panels: z.array(panel).min(1),
  })
  .refine((value) => !('id' in value) || value.id === null, {
    message: 'a provisioned dashboard must not carry a database id',
  })
  .superRefine((value, ctx) => {
    const ids = value.panels.map((p) => p.id);
    if (new Set(ids).size !== ids.length)
      ctx.addIssue({ code: 'custom', message: 'panel ids must be unique' });
    // Every $variable a query uses is defined (Grafana's own $__ macros aside).
    const defined = new Set((value.templating?.list ?? []).map((v) => v.name));
    const text = JSON.stringify(value.panels) + JSON.stringify(value.templating ?? {});
    for (const match of text.matchAll(/\$\{?([A-Za-z]\w*)/g))
      if (!defined.has(match[1]!))
        ctx.addIssue({ code: 'custom', message: `$${match[1]} is used but not defined` });
    // Panels do not overlap on the grid.
    const cells = new Set<string>();
    for (const p of value.panels)
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          const cell = `${x},${y}`;
          if (cells.has(cell))
            ctx.addIssue({ code: 'custom', message: `panel "${p.title}" overlaps another` });
          cells.add(cell);
        }
  });
