package bench

import "testing"

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.0004: 0.001, 0.27: 0.3, 1.2: 1.5, 2: 2, 3.1: 4, 5.4: 6, 7: 8, 12: 15, 90: 100} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}
