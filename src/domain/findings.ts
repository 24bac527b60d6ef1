/** One controlled field an interference episode moved. */
export interface FieldChange {
  field: string;
  from: unknown;
  to: unknown;
}

/** The public shape of a finding (DESIGN.md `GET /api/v1/interference`), shared by the API and alerts. */
export interface FindingColumns {
  id: string;
  deviceId: string;
  deviceType: string;
  userId: string;
  kind: string;
  field: string | null;
  fromValue: string;
  toValue: string;
  observedAtMs: number;
  detectedAtMs: number;
  actionId: string | null;
}

export interface FindingView {
  id: string;
  deviceId: string;
  deviceType: string;
  userId: string;
  kind: string;
  /** The first field the change moved (the type's field order); null for ACTION_CONFLICT. */
  field: string | null;
  from: unknown;
  to: unknown;
  /** Every controlled field the change moved at once, `field` first; empty for ACTION_CONFLICT. */
  fields: FieldChange[];
  observedAt: string;
  detectedAt: string;
  actionId: string | null;
}

function isFieldChange(v: unknown): v is FieldChange {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { field?: unknown }).field === 'string';
}

/**
 * The fields of a finding: the `fields` its evidence lists (parsed), else the one field of its
 * columns (findings stored before episodes listed their fields), none for ACTION_CONFLICT.
 */
export function findingFields(evidence: unknown, single: { field: string | null; from: unknown; to: unknown }): FieldChange[] {
  const listed = evidence !== null && typeof evidence === 'object' ? (evidence as { fields?: unknown }).fields : undefined;
  if (Array.isArray(listed) && listed.length > 0 && listed.every(isFieldChange)) {
    return listed.map((c) => ({ field: c.field, from: c.from ?? null, to: c.to ?? null }));
  }
  return single.field === null ? [] : [{ field: single.field, from: single.from, to: single.to }];
}

/** The finding's public view; `fields` as findingFields reads them from `evidence` (parsed) when given. */
export function findingView(f: FindingColumns, evidence?: unknown): FindingView {
  const from = JSON.parse(f.fromValue) as unknown;
  const to = JSON.parse(f.toValue) as unknown;
  return {
    id: f.id,
    deviceId: f.deviceId,
    deviceType: f.deviceType,
    userId: f.userId,
    kind: f.kind,
    field: f.field,
    from,
    to,
    fields: findingFields(evidence, { field: f.field, from, to }),
    observedAt: new Date(f.observedAtMs).toISOString(),
    detectedAt: new Date(f.detectedAtMs).toISOString(),
    actionId: f.actionId,
  };
}
