/*
 * Deepling.LayerScatter, part 5 of 6: the picture as a PNG (toPNG), WebGL and software dots
 * together.
 */
(function () {
  'use strict';

  const Deepling = (window.Deepling = window.Deepling || {});
  const S = (Deepling.scatterParts = Deepling.scatterParts || {});  // the renderer's parts, shared
  const { parseColor } = S;

  class Png {
    toPNG(options) {
      const o = Object.assign({ background: '#ffffff' }, options || {});
      if (!this.gl) return null;
      // the drawing buffer is not preserved, so draw and read it back in the same task
      this._render();
      const soft = this._softDotsOn();
      if (o.background == null && !soft) return this.canvas.toDataURL('image/png');
      const c = document.createElement('canvas');
      c.width = this.canvas.width;
      c.height = this.canvas.height;
      const ctx = c.getContext('2d');
      if (o.background != null) {
        const bg = parseColor(o.background);
        ctx.fillStyle = `rgba(${bg[0]},${bg[1]},${bg[2]},${bg[3] / 255})`;
        ctx.fillRect(0, 0, c.width, c.height);
      }
      if (soft) ctx.drawImage(this._softDots.canvas, 0, 0);
      ctx.drawImage(this.canvas, 0, 0);
      return c.toDataURL('image/png');
    }
  }

  S.Png = Png;  // its methods become LayerScatter's (part 6)
})();
