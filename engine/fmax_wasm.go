package engine

func maxF32(a, b float32) float32 { return maxF32Compare(a, b) }
