// Package svgchart writes the benchmark suite's charts as standalone SVG
// files: line charts (optionally with logarithmic axes) and grouped bar
// charts, each point with its min–max range. No external tool is needed
// to draw or to view them.
package svgchart

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
)

// Point is one value with its range (Lo ≤ Y ≤ Hi; equal when unknown).
type Point struct {
	X, Y, Lo, Hi float64
}

// Series is one line or one colour of bars.
type Series struct {
	Name   string
	Points []Point
}

// Line is a line chart.
type Line struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool
	Series                []Series
}

// Bars is a grouped bar chart: one group per label, one bar per series.
type Bars struct {
	Title, YLabel string
	Groups        []string
	Series        []Series // Points[i] belongs to Groups[i]; X is ignored
	LogY          bool
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"}

const (
	width, height              = 720, 420
	left, right, top, bottomPx = 80, 170, 40, 60
)

type scale struct {
	lo, hi float64
	log    bool
	a, b   float64 // pixel range
}

func (s scale) at(v float64) float64 {
	lo, hi := s.lo, s.hi
	if s.log {
		v, lo, hi = math.Log10(math.Max(v, 1e-300)), math.Log10(lo), math.Log10(hi)
	}
	if hi == lo {
		return (s.a + s.b) / 2
	}
	return s.a + (v-lo)/(hi-lo)*(s.b-s.a)
}

// ticks returns tick values for the scale: powers of ten (and 2, 5
// between them when few) on a log scale, round steps on a linear one.
func (s scale) ticks() []float64 {
	var t []float64
	if s.log {
		for e := math.Floor(math.Log10(s.lo)); e <= math.Ceil(math.Log10(s.hi)); e++ {
			for _, m := range []float64{1, 2, 5} {
				v := m * math.Pow(10, e)
				if v >= s.lo*0.999 && v <= s.hi*1.001 {
					t = append(t, v)
				}
			}
		}
		return t
	}
	span := s.hi - s.lo
	if span <= 0 {
		return []float64{s.lo}
	}
	step := math.Pow(10, math.Floor(math.Log10(span/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		if span/(step*m) <= 6 {
			step *= m
			break
		}
	}
	for v := math.Ceil(s.lo/step) * step; v <= s.hi+step/1e6; v += step {
		t = append(t, v)
	}
	return t
}

// label formats a tick: 1.5k, 20M, 0.25.
func label(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trim(v/1e9) + "G"
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e3:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}

func trim(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }

// bounds returns the range of the values, widened for a readable axis.
func bounds(vals []float64, log, zero bool) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if log && v <= 0 {
			continue
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if math.IsInf(lo, 0) {
		return 1, 10
	}
	if log {
		return math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
	}
	if zero {
		lo = math.Min(0, lo)
	}
	if hi == lo {
		hi = lo + 1
	}
	return lo, hi + (hi-lo)*0.05
}

func header(b *bytes.Buffer, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
}

func axes(b *bytes.Buffer, xs, ys scale, xlabel, ylabel string, xticks []float64, xtickLabel func(float64) string) {
	x0, x1, y0, y1 := float64(left), float64(width-right), float64(height-bottomPx), float64(top)
	for _, t := range ys.ticks() {
		y := ys.at(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x0, y, x1, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, y+4, label(t))
	}
	for _, t := range xticks {
		x := xs.at(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", x, y0, x, y1)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, y0+16, html.EscapeString(xtickLabel(t)))
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x0, y0, x1, y0)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x0, y0, x0, y1)
	fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", (x0+x1)/2, height-18, html.EscapeString(xlabel))
	fmt.Fprintf(b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", (y0+y1)/2, html.EscapeString(ylabel))
}

func legend(b *bytes.Buffer, series []Series) {
	for i, s := range series {
		y := top + 10 + i*20
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="14" height="10" fill="%s"/>`+"\n", width-right+14, y-9, palette[i%len(palette)])
		fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", width-right+34, y, html.EscapeString(s.Name))
	}
}

// SVG renders the line chart.
func (c Line) SVG() []byte {
	var xv, yv []float64
	for _, s := range c.Series {
		for _, p := range s.Points {
			xv = append(xv, p.X)
			yv = append(yv, p.Y, p.Lo, p.Hi)
		}
	}
	// The x axis spans the data exactly (ticks are the data's x values).
	xlo, xhi := 1.0, 10.0
	if len(xv) > 0 {
		xlo, xhi = minOf(xv), maxOf(xv)
	}
	ylo, yhi := bounds(yv, c.LogY, true)
	xs := scale{lo: xlo, hi: xhi, log: c.LogX, a: left + 10, b: width - right - 10}
	ys := scale{lo: ylo, hi: yhi, log: c.LogY, a: height - bottomPx, b: top}
	var b bytes.Buffer
	header(&b, c.Title)
	var xticks []float64
	seen := map[float64]bool{}
	for _, v := range xv {
		if !seen[v] {
			seen[v] = true
			xticks = append(xticks, v)
		}
	}
	axes(&b, xs, ys, c.XLabel, c.YLabel, xticks, label)
	for i, s := range c.Series {
		col := palette[i%len(palette)]
		var path bytes.Buffer
		for j, p := range s.Points {
			cmd := "L"
			if j == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, xs.at(p.X), ys.at(p.Y))
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", path.String(), col)
		for _, p := range s.Points {
			x := xs.at(p.X)
			if p.Hi > p.Lo {
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x, ys.at(p.Lo), x, ys.at(p.Hi), col)
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s: %s → %s</title></circle>`+"\n",
				x, ys.at(p.Y), col, html.EscapeString(s.Name), label(p.X), label(p.Y))
		}
	}
	legend(&b, c.Series)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// SVG renders the bar chart.
func (c Bars) SVG() []byte {
	var yv []float64
	for _, s := range c.Series {
		for _, p := range s.Points {
			yv = append(yv, p.Y, p.Lo, p.Hi)
		}
	}
	ylo, yhi := bounds(yv, c.LogY, true)
	n := len(c.Groups)
	xs := scale{lo: -0.5, hi: float64(n) - 0.5, a: left, b: width - right}
	ys := scale{lo: ylo, hi: yhi, log: c.LogY, a: height - bottomPx, b: top}
	var b bytes.Buffer
	header(&b, c.Title)
	var xticks []float64
	for i := range c.Groups {
		xticks = append(xticks, float64(i))
	}
	axes(&b, xs, ys, "", c.YLabel, xticks, func(v float64) string {
		if i := int(v); i >= 0 && i < n {
			return c.Groups[i]
		}
		return ""
	})
	groupW := (xs.at(1) - xs.at(0)) * 0.8
	if n == 1 {
		groupW = float64(width-left-right) * 0.5
	}
	ns := max(len(c.Series), 1)
	barW := groupW / float64(ns)
	base := ys.at(ylo)
	for si, s := range c.Series {
		col := palette[si%len(palette)]
		for gi, p := range s.Points {
			if gi >= n || p.Y <= 0 && c.LogY {
				continue
			}
			x := xs.at(float64(gi)) - groupW/2 + float64(si)*barW
			y := ys.at(p.Y)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s, %s: %s</title></rect>`+"\n",
				x, y, barW*0.92, math.Max(base-y, 0), col, html.EscapeString(s.Name), html.EscapeString(c.Groups[gi]), label(p.Y))
			if p.Hi > p.Lo {
				cx := x + barW*0.46
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", cx, ys.at(p.Lo), cx, ys.at(p.Hi))
			}
		}
	}
	legend(&b, c.Series)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func minOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = math.Min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = math.Max(m, x)
	}
	return m
}
