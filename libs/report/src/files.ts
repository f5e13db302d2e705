// Report output files: report.json serialisation (bigints as decimal strings) and writing report.json and report.html into a directory.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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
  return `${JSON.stringify(report, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2)}\n`;
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
