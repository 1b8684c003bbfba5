package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// chartRow is one bar: an implementation in one case.
type chartRow struct {
	group, label string
	value        float64
	cachekit     bool
}

var (
	white    = color.RGBA{255, 255, 255, 255}
	ink      = color.RGBA{30, 30, 30, 255}
	grid     = color.RGBA{220, 220, 220, 255}
	ckColor  = color.RGBA{31, 119, 180, 255}
	peer     = color.RGBA{160, 160, 160, 255}
	targetCl = color.RGBA{214, 39, 40, 255}
)

const (
	chartW  = 980
	labelW  = 300
	rowH    = 16
	groupGp = 10
	top     = 56
	bottom  = 30
	right   = 90
)

// writeChart draws a horizontal bar chart: one bar per implementation and
// case, cachekit in blue. Throughput charts plot the ratio to the reference
// implementation with that reference (1.0, the limit) drawn as a black line;
// the target is a red line.
func writeChart(path string, s scenario, rows []chartRow) error {
	groups := 0
	for i, r := range rows {
		if i == 0 || r.group != rows[i-1].group {
			groups++
		}
	}
	h := top + len(rows)*rowH + groups*groupGp + bottom
	img := image.NewRGBA(image.Rect(0, 0, chartW, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)

	maxV := s.target
	if s.ratio == "throughput" {
		maxV = max(maxV, 1)
	}
	for _, r := range rows {
		if !isBad(r.value) {
			maxV = max(maxV, r.value)
		}
	}
	if maxV <= 0 {
		maxV = 1
	}
	maxV *= 1.08
	x0, x1 := labelW, chartW-right
	xOf := func(v float64) int { return x0 + int(float64(x1-x0)*v/maxV) }

	title := s.title
	sub := "value per implementation (lower is better)"
	if s.ratio == "throughput" {
		sub = fmt.Sprintf("throughput relative to %s (higher is better); black line: %s = 1.0", s.ref, s.ref)
	}
	if s.target > 0 {
		sub += fmt.Sprintf("; red line: target %.2f", s.target)
	}
	text(img, 10, 18, title, ink)
	text(img, 10, 36, sub, ink)

	// vertical grid every tenth of the range
	for i := 0; i <= 10; i++ {
		v := maxV / 1.08 * float64(i) / 10
		x := xOf(v)
		vline(img, x, top-6, h-bottom+4, grid, false)
		text(img, x-10, h-bottom+18, trim(v), ink)
	}
	y := top
	for i, r := range rows {
		if i == 0 || r.group != rows[i-1].group {
			y += groupGp
			text(img, 10, y+rowH-4, r.group, ink)
		}
		text(img, 170, y+rowH-4, r.label, ink)
		c := peer
		if r.cachekit {
			c = ckColor
		}
		if !isBad(r.value) {
			fill(img, image.Rect(x0, y+2, max(xOf(r.value), x0+1), y+rowH-2), c)
			text(img, xOf(r.value)+4, y+rowH-4, trim(r.value), ink)
		}
		y += rowH
	}
	if s.ratio == "throughput" {
		vline(img, xOf(1), top-6, h-bottom+4, ink, false)
	}
	if s.target > 0 {
		vline(img, xOf(s.target), top-6, h-bottom+4, targetCl, true)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func isBad(v float64) bool { return v != v || v <= 0 }

func trim(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA, dashed bool) {
	for y := y0; y < y1; y++ {
		if dashed && (y/4)%2 == 1 {
			continue
		}
		img.SetRGBA(x, y, c)
		img.SetRGBA(x+1, y, c)
	}
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
