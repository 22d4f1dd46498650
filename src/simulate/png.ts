import type * as ResvgModule from '@resvg/resvg-js';

/*
 * PNG charts: the SVG chart rasterised by resvg (@resvg/resvg-js). It is a development dependency, like the
 * rest of what only a checkout runs (`swell simulate` is not in the image), so it is loaded on first use and
 * a checkout without it gets a plain message instead of a stack trace.
 */

/** Pixels per SVG unit: the chart is laid out for 900 px and rasterised at twice that, so text stays sharp. */
export const pngScale = 2;

export type ChartFormat = 'svg' | 'png';

/** The format a chart path asks for by its extension, or undefined for one that cannot be written. */
export function chartFormat(path: string): ChartFormat | undefined {
  const extension = /\.([^./\\]+)$/.exec(path)?.[1]?.toLowerCase();
  return extension === 'svg' || extension === 'png' ? extension : undefined;
}

/** Rasterises an SVG document on a white background; text is drawn with the system's fonts (DejaVu Sans for sans-serif where it is installed). */
export async function svgToPng(svg: string, scale = pngScale): Promise<Buffer> {
  let resvg: typeof ResvgModule;
  try {
    resvg = await import('@resvg/resvg-js');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new Error('a .png chart needs @resvg/resvg-js, a development dependency: run npm ci in the checkout (not --omit=dev), or write an .svg chart', {
      cause: err,
    });
  }
  return new resvg.Resvg(svg, { fitTo: { mode: 'zoom', value: scale }, background: '#ffffff', font: { sansSerifFamily: 'DejaVu Sans' } }).render().asPng();
}
