export { SegmentTable, readSegments } from './SegmentTable';
export type { SegmentChecks } from './SegmentTable';
