// echarts, with only the charts and components the panels draw (tree-shaken), coloured from the VS Code theme.
import * as echarts from 'echarts/core';
import { BarChart, HeatmapChart, LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent, VisualMapComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([BarChart, HeatmapChart, LineChart, GridComponent, LegendComponent, TooltipComponent, VisualMapComponent, CanvasRenderer]);

export type ChartOption = echarts.EChartsCoreOption;

/** A theme colour (CSS custom property on the webview's root), with a fallback outside VS Code. */
export function themeColor(variable: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(variable).trim();
  return value === '' ? fallback : value;
}

export interface ThemeColors {
  foreground: string;
  muted: string;
  grid: string;
  accent: string;
  accent2: string;
  background: string;
}

export function themeColors(): ThemeColors {
  return {
    foreground: themeColor('--vscode-foreground', '#cccccc'),
    muted: themeColor('--vscode-descriptionForeground', '#999999'),
    grid: themeColor('--vscode-editorWidget-border', '#444444'),
    accent: themeColor('--vscode-charts-blue', '#3794ff'),
    accent2: themeColor('--vscode-charts-orange', '#d18616'),
    background: themeColor('--vscode-editor-background', '#1e1e1e'),
  };
}

/** Axis styling shared by every chart. */
export function axisStyle(colors: ThemeColors): Record<string, unknown> {
  return {
    axisLine: { lineStyle: { color: colors.grid } },
    axisLabel: { color: colors.muted },
    nameTextStyle: { color: colors.muted },
    splitLine: { lineStyle: { color: colors.grid, opacity: 0.4 } },
  };
}

const mounted = new Map<HTMLElement, { chart: echarts.ECharts; observer: ResizeObserver }>();

/** Draws `option` in `element` (creating the chart once) and keeps it sized to the element. */
export function drawChart(element: HTMLElement, option: ChartOption): echarts.ECharts {
  let entry = mounted.get(element);
  if (!entry) {
    const chart = echarts.init(element, undefined, { renderer: 'canvas' });
    const observer = new ResizeObserver(() => chart.resize());
    observer.observe(element);
    entry = { chart, observer };
    mounted.set(element, entry);
  }
  entry.chart.setOption(option, { notMerge: true });
  return entry.chart;
}

/** Disposes charts whose elements left the document (after a re-render). */
export function disposeDetachedCharts(): void {
  for (const [element, entry] of mounted) {
    if (!element.isConnected) {
      entry.observer.disconnect();
      entry.chart.dispose();
      mounted.delete(element);
    }
  }
}

/** Calls `redraw` when VS Code switches colour theme (it changes the body's class). */
export function onThemeChange(redraw: () => void): void {
  new MutationObserver(redraw).observe(document.body, { attributes: true, attributeFilter: ['class'] });
}
