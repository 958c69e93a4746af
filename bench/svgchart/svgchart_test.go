package svgchart

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// Every chart is well-formed XML holding its title and series names.
func TestWellFormed(t *testing.T) {
	pts := []Point{{X: 1, Y: 10, Lo: 9, Hi: 12}, {X: 10, Y: 100, Lo: 90, Hi: 110}, {X: 100, Y: 1000, Lo: 1000, Hi: 1000}}
	for name, svg := range map[string][]byte{
		"line":    Line{Title: "a <title>", XLabel: "x", YLabel: "y", Series: []Series{{Name: "s&1", Points: pts}}}.SVG(),
		"log":     Line{Title: "log", LogX: true, LogY: true, Series: []Series{{Name: "s1", Points: pts}, {Name: "s2"}}}.SVG(),
		"bars":    Bars{Title: "bars", Groups: []string{"p50", "p99"}, Series: []Series{{Name: "a", Points: pts[:2]}, {Name: "b", Points: pts[1:]}}}.SVG(),
		"logbars": Bars{Title: "logbars", LogY: true, Groups: []string{"one"}, Series: []Series{{Name: "a", Points: pts[:1]}}}.SVG(),
		"empty":   Line{Title: "empty"}.SVG(),
	} {
		d := xml.NewDecoder(strings.NewReader(string(svg)))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, svg)
			}
		}
		if strings.Contains(string(svg), "NaN") || strings.Contains(string(svg), "Inf") {
			t.Errorf("%s: NaN or Inf in the drawing", name)
		}
	}
}
