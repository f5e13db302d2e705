// Report output files: report.json and comparison.json serialisation (bigints as decimal strings) and writing report.json/html or comparison.json/html into a directory.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Comparison } from './compare';
import { renderComparisonHtml } from './compare-html';
import { renderReportHtml } from './html';
import type { Report } from './types';

/** Paths written by {@link writeReportFiles}. */
export interface ReportFiles {
  jsonPath: string;
  htmlPath: string;
}

/**
 * Serialises a report as `report.json` text: 2-space indented JSON ending in a newline; a bigint
 * anywhere becomes its decimal string. Pure.
 */
export function reportToJson(report: Report): string {
  return toJson(report);
}

/** 2-space indented JSON ending in a newline; a bigint anywhere becomes its decimal string. */
function toJson(value: unknown): string {
  return `${JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`;
}

/** Serialises a comparison as `comparison.json` text, like {@link reportToJson}. Pure. */
export function comparisonToJson(comparison: Comparison): string {
  return toJson(comparison);
}

/**
 * Writes `report.json` ({@link reportToJson}) and `report.html` (`renderReportHtml`) into `dir`,
 * creating it (and its parents) when missing; existing files are replaced.
 * @returns the paths of both files.
 * @throws the file system's error (EACCES, ENOTDIR, ENOSPC…) when a directory or file cannot be written.
 */
export async function writeReportFiles(dir: string, report: Report): Promise<ReportFiles> {
  await mkdir(dir, { recursive: true });
  const jsonPath = join(dir, 'report.json');
  const htmlPath = join(dir, 'report.html');
  await writeFile(jsonPath, reportToJson(report), 'utf8');
  await writeFile(htmlPath, renderReportHtml(report), 'utf8');
  return { jsonPath, htmlPath };
}

/** Paths written by {@link writeComparisonFiles}. */
export interface ComparisonFiles {
  jsonPath: string;
  htmlPath: string;
}

/**
 * Writes `comparison.json` ({@link comparisonToJson}) and `comparison.html` (`renderComparisonHtml`)
 * into `dir`, creating it (and its parents) when missing; existing files are replaced.
 * @returns the paths of both files.
 * @throws the file system's error (EACCES, ENOTDIR, ENOSPC…) when a directory or file cannot be written.
 */
export async function writeComparisonFiles(dir: string, comparison: Comparison): Promise<ComparisonFiles> {
  await mkdir(dir, { recursive: true });
  const jsonPath = join(dir, 'comparison.json');
  const htmlPath = join(dir, 'comparison.html');
  await writeFile(jsonPath, comparisonToJson(comparison), 'utf8');
  await writeFile(htmlPath, renderComparisonHtml(comparison), 'utf8');
  return { jsonPath, htmlPath };
}
