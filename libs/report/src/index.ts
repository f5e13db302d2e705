// Entry point of @shardlab/report: re-exports the report's types, builder, terminal table, HTML page, SVG charts, file writing, progress line, and the comparison of several runs.
/**
 * The experiment report of a ShardLab run (the main job, `npm start`): from the transactions'
 * outcomes to the figures a paper needs.
 *
 * - `buildReport(input)` (pure): counts by class and status, throughput, latency percentiles
 *   (nearest-rank) in ms and block intervals, latency CDFs, cross-shard ratio, per-shard load,
 *   normalised abort/rejection reasons, a per-second time series, CPU cost; the audit as given.
 *   Throws ShardLabError INVALID_ARGUMENT on malformed input.
 * - `formatReportTable(report)` (pure): the terminal summary, ≤ 100 columns.
 * - `renderReportHtml(report)` (pure): one self-contained HTML page with four inline SVG charts.
 * - `reportToJson(report)` (pure) / `writeReportFiles(dir, report)` (IO): `report.json` and `report.html`.
 * - `createProgress(opts)`: a progress line for the run (TTY redraw or throttled log lines), clock injected.
 * - `buildComparison(input)` (pure): several runs of one workload (protocol × placement) side by
 *   side, with ratios against the first; `formatComparisonTable`, `renderComparisonHtml` (pure) and
 *   `writeComparisonFiles(dir, comparison)` (IO): `comparison.json` and `comparison.html`.
 *
 * Lower-level pieces (percentiles, reason normalisation, SVG chart builders) are exported for
 * tools and tests.
 */
export * from './types';
export { buildReport, CDF_POINTS, MAX_BUCKETS, REPORT_METHODS } from './build';
export { nearestRank, mean, sortedAscending } from './stats';
export { normaliseReason, groupReasons, NO_REASON, type ReasonItem } from './reasons';
export { formatReportTable, TABLE_WIDTH, TABLE_TOP_REASONS } from './table';
export { describePlacement, fmtRate } from './text';
export { renderReportHtml } from './html';
export { HTML_CHART_REASONS, HTML_MAX_SERIES_POINTS, HTML_TABLE_REASONS, LOG_X_RATIO } from './html-parts';
export {
  escapeHtml,
  PALETTE,
  linearScale,
  logScale,
  tickLabel,
  lineChart,
  groupedBarChart,
  horizontalBarChart,
  type Scale,
  type LegendItem,
  type LineSeries,
  type LineChartOpts,
  type GroupedBarOpts,
  type HBar,
  type HBarOpts,
} from './svg';
export { reportToJson, writeReportFiles, type ReportFiles, comparisonToJson, writeComparisonFiles, type ComparisonFiles } from './files';
export {
  buildComparison,
  comparisonLabel,
  runFigures,
  runRatios,
  COMPARISON_METHODS,
  COMPARISON_SCHEMA,
  RATIO_FIGURES,
  type Comparison,
  type ComparisonInput,
  type ComparisonRun,
  type ComparisonRunInput,
  type RatioFigure,
  type RunFigures,
  type RunRatios,
} from './compare';
export {
  comparisonRows,
  comparisonSections,
  formatComparisonTable,
  fmtRatio,
  runVerdict,
  RATIO_ROWS,
  type ComparisonFigureRow,
  type ComparisonSection,
} from './compare-table';
export { renderComparisonHtml, RUN_COLORS } from './compare-html';
export {
  createProgress,
  createRateMeter,
  etaMs,
  formatDuration,
  formatLogLine,
  formatTtyLine,
  settledOf,
  type Progress,
  type ProgressCounts,
  type ProgressOptions,
  type ProgressOutput,
  type ProgressSnapshot,
  type RateMeter,
} from './progress';
