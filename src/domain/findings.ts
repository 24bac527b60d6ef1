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
  field: string | null;
  from: unknown;
  to: unknown;
  observedAt: string;
  detectedAt: string;
  actionId: string | null;
}

export function findingView(f: FindingColumns): FindingView {
  return {
    id: f.id,
    deviceId: f.deviceId,
    deviceType: f.deviceType,
    userId: f.userId,
    kind: f.kind,
    field: f.field,
    from: JSON.parse(f.fromValue) as unknown,
    to: JSON.parse(f.toValue) as unknown,
    observedAt: new Date(f.observedAtMs).toISOString(),
    detectedAt: new Date(f.detectedAtMs).toISOString(),
    actionId: f.actionId,
  };
}
