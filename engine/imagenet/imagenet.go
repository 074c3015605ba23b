// Package imagenet holds the ImageNet-1k class names in the standard index order (the order
// torchvision's and Caffe's classifiers use), as listed by torchvision.
package imagenet

import (
	_ "embed"
	"strings"
)

//go:embed labels.txt
var labelsText string

// Labels are the 1000 class names; Labels[281] is "tabby".
var Labels = strings.Split(strings.TrimSuffix(labelsText, "\n"), "\n")

// Label returns the name of class i, or "class i" outside the table.
func Label(i int) string {
	if i >= 0 && i < len(Labels) {
		return Labels[i]
	}
	return "class " + itoa(i)
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
