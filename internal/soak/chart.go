package soak

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	colData    = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff} // blue
	colData2   = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff} // orange
	colFit     = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff} // red
	colWarmup  = color.RGBA{R: 0xee, G: 0xee, B: 0xee, A: 0xff}
	colStopped = color.RGBA{R: 0x70, G: 0x70, B: 0x70, A: 0xff}
)

func init() {
	plot.DefaultFont.Variant = "Sans"
}

// intTicks labels whole numbers only, for the count panels.
type intTicks struct{}

func (intTicks) Ticks(lo, hi float64) []plot.Tick {
	if hi-lo <= 12 {
		step := 1.0
		if hi-lo > 6 {
			step = 2
		}
		var ts []plot.Tick
		for v := math.Ceil(lo); v <= hi; v += step {
			ts = append(ts, plot.Tick{Value: v, Label: fmt.Sprintf("%.0f", v)})
		}
		return ts
	}
	var ts []plot.Tick
	for _, t := range (plot.DefaultTicks{}).Ticks(lo, hi) {
		if t.Label != "" {
			if t.Value != math.Trunc(t.Value) {
				continue
			}
			t.Label = fmt.Sprintf("%.0f", t.Value)
		}
		ts = append(ts, t)
	}
	return ts
}

// band shades [x0, x1] of the data area and draws vertical markers; it
// marks the warm-up and the moment the load was stopped.
type band struct {
	x0, x1 float64 // shaded (warm-up), minutes
	stop   float64 // dashed marker (load stopped), minutes; NaN for none
}

func (b band) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x0, x1 := trX(b.x0), trX(b.x1)
	c.FillPolygon(colWarmup, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	c.StrokeLine2(draw.LineStyle{Color: colStopped, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(4), vg.Points(2)}},
		x1, c.Min.Y, x1, c.Max.Y)
	if !math.IsNaN(b.stop) {
		c.StrokeLine2(draw.LineStyle{Color: colStopped, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(1), vg.Points(2)}},
			trX(b.stop), c.Min.Y, trX(b.stop), c.Max.Y)
	}
}

// points returns the non-NaN (minutes, value/scale) points of sr.
func points(samples []sample, get func(sample) float64, scale float64) plotter.XYs {
	var xy plotter.XYs
	for _, s := range samples {
		if v := get(s); !math.IsNaN(v) {
			xy = append(xy, plotter.XY{X: s.Elapsed / 60, Y: v / scale})
		}
	}
	return xy
}

type panelLine struct {
	name  string
	get   func(sample) float64
	color color.Color
	dash  bool
}

// panel builds one subplot: lines, the warm-up band and, for a checked
// series, the least-squares fit after warm-up.
func (r *result) panel(title, ylabel string, scale float64, lines []panelLine, st *stat, b band, xmax float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(10)
	p.Y.Label.Text = ylabel
	p.Y.Label.TextStyle.Font.Size = vg.Points(9)
	p.X.Tick.Label.Font.Size = vg.Points(8)
	p.Y.Tick.Label.Font.Size = vg.Points(8)
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.ThumbnailWidth = vg.Points(18)
	p.Add(b)
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 0xdd}
	grid.Horizontal.Color = color.Gray{Y: 0xdd}
	p.Add(grid)

	ymax := 0.0
	for _, ln := range lines {
		xy := points(r.samples, ln.get, scale)
		if len(xy) == 0 {
			continue
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		l.Color = ln.color
		l.Width = vg.Points(1.2)
		if ln.dash {
			l.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
		}
		p.Add(l)
		p.Legend.Add(ln.name, l)
		for _, pt := range xy {
			ymax = max(ymax, pt.Y)
		}
	}
	if st != nil && st.FitOK {
		f := plotter.XYs{
			{X: st.X0 / 60, Y: (st.Fit.A + st.Fit.B*st.X0) / scale},
			{X: st.X1 / 60, Y: (st.Fit.A + st.Fit.B*st.X1) / scale},
		}
		l, err := plotter.NewLine(f)
		if err != nil {
			return nil, err
		}
		l.Color = colFit
		l.Width = vg.Points(1.5)
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("least-squares fit after warm-up (%s)", st.slopePerHour()), l)
		ymax = max(ymax, f[0].Y, f[1].Y)
	}
	// Zero-based y axis, so growth reads as a proportion of the level;
	// head room for the legend.
	p.Y.Min = 0
	p.Y.Max = max(ymax*1.35, 1)
	p.X.Min, p.X.Max = 0, xmax
	if scale == 1 {
		p.Y.Tick.Marker = intTicks{}
	}
	return p, nil
}

// writeChart draws the series as a vertical stack of panels sharing the
// time axis.
func (r *result) writeChart(w io.Writer) error {
	if len(r.samples) == 0 {
		return fmt.Errorf("no samples")
	}
	xmax := r.samples[len(r.samples)-1].Elapsed / 60
	warm := min(r.opts.Warmup.Seconds()/60, xmax)
	b := band{x0: 0, x1: warm, stop: r.loadStopped / 60}
	stats := map[string]*stat{}
	for _, st := range r.stats() {
		stats[st.s.key] = &st
	}
	verdict := func(key string) string {
		st := stats[key]
		return fmt.Sprintf("%s: growth after warm-up %s, limit %s", st.Verdict, st.fmtSigned(st.Growth), st.fmt(st.Limit))
	}
	overall := "PASS"
	if !r.pass() {
		overall = "FAIL"
	}

	type spec struct {
		title, ylabel string
		scale         float64
		lines         []panelLine
		st            *stat
	}
	specs := []spec{
		{fmt.Sprintf("headwater soak %v, %d publishers, %d players: %s   |   RSS (%s)",
			r.opts.Duration, r.opts.Publishers, r.opts.Players, overall, verdict("rss")),
			"RSS (MiB)", 1 << 20,
			[]panelLine{{"process_resident_memory_bytes", seriesRSS.get, colData, false}}, stats["rss"]},
		{"goroutines (" + verdict("goroutines") + ")", "goroutines", 1,
			[]panelLine{{"go_goroutines", seriesGoroutines.get, colData, false}}, stats["goroutines"]},
		{"open FDs (" + verdict("fds") + ")", "open FDs", 1,
			[]panelLine{{"process_open_fds", seriesFDs.get, colData, false}}, stats["fds"]},
		{"streams and publishers (follow the publisher churn; report only)", "count", 1,
			[]panelLine{
				{"headwater_streams", seriesStreams.get, colData, false},
				{"headwater_publishers", seriesPublishers.get, colData2, true},
			}, nil},
		{"players (follow the player churn; report only)", "players", 1,
			[]panelLine{
				{"headwater_players (server)", seriesPlayers.get, colData, false},
				{"players with a 200 response (load side)", func(s sample) float64 { return float64(s.Load.PlayersActive) }, colData2, true},
			}, nil},
	}
	plots := make([][]*plot.Plot, len(specs))
	for i, sp := range specs {
		p, err := r.panel(sp.title, sp.ylabel, sp.scale, sp.lines, sp.st, b, xmax)
		if err != nil {
			return err
		}
		if i == len(specs)-1 {
			p.X.Label.Text = "elapsed (minutes)   grey band: warm-up (not trend-checked)   dotted line: load stopped, then drain sample"
			p.X.Label.TextStyle.Font.Size = vg.Points(9)
		}
		plots[i] = []*plot.Plot{p}
	}

	img := vgimg.NewWith(vgimg.UseWH(10*vg.Inch, 13*vg.Inch), vgimg.UseDPI(100))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(specs), Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6),
		PadLeft: vg.Points(6), PadRight: vg.Points(12), PadY: vg.Points(10)}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}
