package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/template"
)

// The plot: time to all replies (median, min–max whiskers) against
// fleet size, with the targets, as a self-contained SVG.
const (
	plotW, plotH               = 640.0, 400.0
	plotL, plotR, plotT, plotB = 64.0, 620.0, 40.0, 352.0 // the plot area
)

// benchTargets are the targets: all replies to a ping from this
// many nodes within this many seconds.
var benchTargets = []struct {
	nodes   int
	seconds float64
}{{1000, 0.3}, {10000, 2}}

type plotPoint struct{ X, Y, YMin, YMax float64 }

type plotSeries struct {
	Name, Color string
	Dash        string // stroke-dasharray; "" for a solid line
	Whiskers    bool
	Points      []plotPoint
	Line        string
	LegendY     float64
}

type plotMark struct {
	X, Y   float64
	Label  string
	Anchor string // text-anchor of the label: start or end
	DX     float64
}

type plotData struct {
	W, H, L, R, T, B float64
	Title            string
	XTicks, YTicks   []plotMark
	Series           []plotSeries
	Targets          []plotMark
}

var plotTmpl = template.Must(template.New("plot").Parse(`<svg xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" font-family="sans-serif" font-size="12">
<rect width="{{.W}}" height="{{.H}}" fill="white"/>
<text x="{{.L}}" y="22" font-size="14">{{.Title}}</text>
{{- range .XTicks}}
<line x1="{{.X}}" y1="{{$.B}}" x2="{{.X}}" y2="{{$.T}}" stroke="#ddd"/><text x="{{.X}}" y="{{$.B}}" dy="16" text-anchor="middle">{{.Label}}</text>
{{- end}}
{{- range .YTicks}}
<line x1="{{$.L}}" y1="{{.Y}}" x2="{{$.R}}" y2="{{.Y}}" stroke="#ddd"/><text x="{{$.L}}" y="{{.Y}}" dx="-6" dy="4" text-anchor="end">{{.Label}}</text>
{{- end}}
<line x1="{{.L}}" y1="{{.B}}" x2="{{.R}}" y2="{{.B}}" stroke="black"/>
<line x1="{{.L}}" y1="{{.T}}" x2="{{.L}}" y2="{{.B}}" stroke="black"/>
<text x="{{.R}}" y="{{.B}}" dy="36" text-anchor="end">nodes</text>
<text x="16" y="{{.T}}" transform="rotate(-90 16 {{.T}})" text-anchor="end">seconds to all replies</text>
{{- range .Targets}}
<path d="M{{.X}} {{.Y}} m-5 -5 l10 10 m0 -10 l-10 10" stroke="#c00" stroke-width="2"/><text x="{{.X}}" y="{{.Y}}" dx="{{.DX}}" dy="-6" text-anchor="{{.Anchor}}" fill="#c00">{{.Label}}</text>
{{- end}}
{{- range .Series}}{{$c := .Color}}
<polyline points="{{.Line}}" fill="none" stroke="{{$c}}" stroke-width="2"{{if .Dash}} stroke-dasharray="{{.Dash}}"{{end}}/>
{{- if .Whiskers}}{{range .Points}}
<line x1="{{.X}}" y1="{{.YMin}}" x2="{{.X}}" y2="{{.YMax}}" stroke="{{$c}}" stroke-width="1.5"/><circle cx="{{.X}}" cy="{{.Y}}" r="3.5" fill="{{$c}}"/>
{{- end}}{{end}}
<path d="M{{$.L}} {{.LegendY}} m8 0 h18" stroke="{{$c}}" stroke-width="3"{{if .Dash}} stroke-dasharray="{{.Dash}}"{{end}}/><text x="{{$.L}}" y="{{.LegendY}}" dx="30" dy="4">{{.Name}}</text>
{{- end}}
</svg>
`))

// writePlot renders rep as an SVG file.
func writePlot(path string, rep *Report) error {
	var out strings.Builder
	if err := plotTmpl.Execute(&out, plotLayout(rep)); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(out.String()), 0o644)
}

func plotLayout(rep *Report) plotData {
	d := plotData{W: plotW, H: plotH, L: plotL, R: plotR, T: plotT, B: plotB,
		Title: fmt.Sprintf("tutti: time to all verified replies (%d CPUs, %s keys, %d runs)", rep.Machine.CPUs, rep.Key, rep.Runs)}
	maxN, maxY := 1, 0.0
	for _, r := range rep.Results {
		maxN = max(maxN, r.Nodes)
		maxY = max(maxY, r.Ping.Max, r.RPC.Max)
	}
	for _, t := range benchTargets {
		if t.nodes <= maxN {
			maxY = max(maxY, t.seconds)
		}
	}
	yTop := niceCeil(maxY)
	x := func(n int) float64 { return round1(plotL + (plotR-plotL)*float64(n)/float64(maxN)) }
	y := func(s float64) float64 { return round1(plotB - (plotB-plotT)*s/yTop) }
	for _, r := range rep.Results {
		d.XTicks = append(d.XTicks, plotMark{X: x(r.Nodes), Label: strconv.Itoa(r.Nodes)})
	}
	for i := 0; i <= 5; i++ {
		v := yTop * float64(i) / 5
		d.YTicks = append(d.YTicks, plotMark{Y: y(v), Label: strconv.FormatFloat(v, 'g', 3, 64)})
	}
	for _, t := range benchTargets {
		if t.nodes <= maxN {
			m := plotMark{X: x(t.nodes), Y: y(t.seconds), Label: fmt.Sprintf("target %gs", t.seconds), Anchor: "start", DX: 8}
			if m.X > plotR-80 {
				m.Anchor, m.DX = "end", -8
			}
			d.Targets = append(d.Targets, m)
		}
	}
	for k, s := range []struct {
		name, color, dash string
		whiskers          bool
		get               func(Result) (median, lo, hi float64)
	}{
		{"ping (median, min–max)", "#1f6fb4", "", true, func(r Result) (float64, float64, float64) { return r.Ping.Median, r.Ping.Min, r.Ping.Max }},
		{"rpc rpcutil ping (median, min–max)", "#e07b00", "", true, func(r Result) (float64, float64, float64) { return r.RPC.Median, r.RPC.Min, r.RPC.Max }},
		{"ping: CPU of nodes+client+broker / CPUs", "#777", "6 4", false, func(r Result) (float64, float64, float64) {
			return r.Ping.CPUBoundSeconds, r.Ping.CPUBoundSeconds, r.Ping.CPUBoundSeconds
		}},
	} {
		ps := plotSeries{Name: s.name, Color: s.color, Dash: s.dash, Whiskers: s.whiskers, LegendY: plotT + 12 + 18*float64(k)}
		var line []string
		for _, r := range rep.Results {
			med, lo, hi := s.get(r)
			p := plotPoint{X: x(r.Nodes), Y: y(med), YMin: y(lo), YMax: y(hi)}
			ps.Points = append(ps.Points, p)
			line = append(line, fmt.Sprintf("%g,%g", p.X, p.Y))
		}
		ps.Line = strings.Join(line, " ")
		d.Series = append(d.Series, ps)
	}
	return d
}

// niceCeil rounds v up to a round number: 1, 1.5, 2, 2.5, 3, 4, 5, 6
// or 8 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := 1e-3
	for p*10 <= v {
		p *= 10
	}
	for _, m := range []float64{1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*p >= v {
			r, _ := strconv.ParseFloat(strconv.FormatFloat(m*p, 'g', 6, 64), 64) // 0.30000000000000004 → 0.3
			return r
		}
	}
	return 10 * p
}

func round1(v float64) float64 { return float64(int(v*10+0.5)) / 10 }
