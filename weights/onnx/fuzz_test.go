package onnx

import (
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds adds a few small real files from the ONNX node tests when they are installed;
// the hand-made seeds and testdata/fuzz keep the targets useful without them.
func fuzzSeeds(f *testing.F, pattern string) {
	paths, _ := filepath.Glob(filepath.Join(nodeTestDir, pattern))
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil && len(data) < 4096 {
			f.Add(data)
		}
	}
}

func FuzzReadModel(f *testing.F) {
	f.Add(smallModel())
	for _, dir := range []string{"test_conv_with_strides_padding", "test_lrn", "test_gemm_all_attributes",
		"test_maxpool_2d_same_upper", "test_softmax_axis_0_expanded", "test_if", "test_loop11", "test_cast_FLOAT_to_FLOAT16"} {
		fuzzSeeds(f, filepath.Join(dir, "model.onnx"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadModel(data)
		if err != nil {
			return
		}
		exercise(t, m, len(data))
	})
}

func FuzzReadTensor(f *testing.F) {
	f.Add(cat(pbInt(1, 2), pbInt(2, int64(Float)), pbBytes(4, floatRaw(1.5, -2))))
	f.Add(cat(pbInt(1, 3), pbInt(2, int64(Float16)), pbBytes(9, []byte{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00})))
	f.Add(cat(pbInt(1, 2), pbInt(2, int64(Int32)), pbInt(5, -5), pbInt(5, 6)))
	for _, dir := range []string{"test_lrn", "test_maxpool_2d_uint8", "test_dropout_default_mask", "test_cast_FLOAT_to_FLOAT16", "test_gemm_default_scalar_bias"} {
		fuzzSeeds(f, filepath.Join(dir, "test_data_set_0", "*.pb"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tp, err := ReadTensor(data)
		if err != nil {
			return
		}
		exerciseTensor(t, tp, len(data))
	})
}
