package teach

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"slices"
)

// Example is one training embedding.
type Example struct {
	Embedding []float32
	Class     int
	// Source groups the embeddings of one photo (its flips and crops, as augmentation
	// makes them): a photo's embeddings all go to the same side of the held-out split, so
	// the held-out accuracy is measured on photos the head never saw.
	Source int
}

// Options tunes training; zero values take the defaults.
type Options struct {
	Hidden       int     // hidden ReLU units; 0: a softmax head on the embedding itself
	Epochs       int     // at most (50, as Teachable Machine)
	LearningRate float64 // Adam's (0.001)
	WeightDecay  float64 // decoupled, AdamW (0.0001)
	Holdout      float64 // the fraction of each class's photos held out (0.15); negative: none
	Patience     int     // epochs without a held-out loss lower by MinDelta before stopping (10)
	MinDelta     float64 // what counts as lower (0.001)
	Batch        int     // examples per step (32)
	Seed         int64
	// Progress, if set, is told after each epoch.
	Progress func(Epoch)
}

func (o Options) withDefaults() Options {
	if o.Epochs == 0 {
		o.Epochs = 50
	}
	if o.LearningRate == 0 {
		o.LearningRate = 1e-3
	}
	if o.WeightDecay == 0 {
		o.WeightDecay = 1e-4
	}
	if o.Holdout == 0 {
		o.Holdout = 0.15
	}
	if o.Patience == 0 {
		o.Patience = 10
	}
	if o.MinDelta == 0 {
		o.MinDelta = 1e-3
	}
	if o.Batch == 0 {
		o.Batch = 32
	}
	return o
}

// Limits on one training request.
const (
	MaxExamples = 100_000
	MaxClasses  = 1000
	MaxHidden   = 4096
	MaxEpochs   = 10_000
)

// Epoch is one epoch's loss and accuracy on the training examples and the held-out ones
// (NaN when nothing is held out).
type Epoch struct {
	Epoch     int     `json:"epoch"`
	TrainLoss float64 `json:"trainLoss"`
	TrainAcc  float64 `json:"trainAcc"`
	HeldLoss  float64 `json:"heldLoss"`
	HeldAcc   float64 `json:"heldAcc"`
}

// Report is what training leaves for a person to judge the head by.
type Report struct {
	Epochs []Epoch `json:"epochs"`
	// Best is the epoch whose weights the head keeps (the lowest held-out loss; the last
	// epoch when nothing is held out).
	Best int `json:"best"`
	// Train and Held are the examples on each side of the split (indices into the input).
	Train []int `json:"train"`
	Held  []int `json:"held"`
	// Evaluation is the head's on the held-out examples.
	Evaluation *Evaluation `json:"evaluation,omitempty"`
}

// Evaluation scores predictions on labelled examples.
type Evaluation struct {
	// PerClass[c] is {correct, total} for class c.
	PerClass [][2]int `json:"perClass"`
	// Confusion[true][predicted] counts examples.
	Confusion [][]int `json:"confusion"`
	// Misclassified lists the examples predicted wrong (indices into the input) and what
	// they were taken for.
	Misclassified []Miss  `json:"misclassified"`
	Accuracy      float64 `json:"accuracy"`
}

// Miss is one misclassified example.
type Miss struct {
	Example   int `json:"example"`
	Predicted int `json:"predicted"`
}

// Classifier is anything that scores embeddings: a trained Head or KNN.
type Classifier interface {
	Probabilities(x []float32) ([]float32, error)
}

// Evaluate scores c on the examples at idx.
func Evaluate(c Classifier, examples []Example, idx []int, classes int) (*Evaluation, error) {
	e := &Evaluation{PerClass: make([][2]int, classes), Confusion: make([][]int, classes)}
	for i := range e.Confusion {
		e.Confusion[i] = make([]int, classes)
	}
	correct := 0
	for _, i := range idx {
		p, err := c.Probabilities(examples[i].Embedding)
		if err != nil {
			return nil, err
		}
		got := argmax(p)
		want := examples[i].Class
		e.Confusion[want][got]++
		e.PerClass[want][1]++
		if got == want {
			e.PerClass[want][0]++
			correct++
		} else {
			e.Misclassified = append(e.Misclassified, Miss{Example: i, Predicted: got})
		}
	}
	if len(idx) > 0 {
		e.Accuracy = float64(correct) / float64(len(idx))
	}
	return e, nil
}

func argmax(p []float32) int {
	best := 0
	for i, v := range p {
		if v > p[best] {
			best = i
		}
	}
	return best
}

// CheckExamples reports what makes a training set unusable: fewer than two classes, a class
// with no examples, embeddings of different lengths or with values that are not finite.
func CheckExamples(examples []Example, classes []string) error {
	if len(classes) < 2 {
		return fmt.Errorf("teach: give at least two classes (have %d): a classifier needs something to tell apart", len(classes))
	}
	if len(classes) > MaxClasses {
		return fmt.Errorf("teach: %d classes, at most %d", len(classes), MaxClasses)
	}
	if len(examples) > MaxExamples {
		return fmt.Errorf("teach: %d examples, at most %d", len(examples), MaxExamples)
	}
	count := make([]int, len(classes))
	dim := -1
	for i, e := range examples {
		if e.Class < 0 || e.Class >= len(classes) {
			return fmt.Errorf("teach: example %d is of class %d; there are %d classes", i, e.Class, len(classes))
		}
		if dim < 0 {
			dim = len(e.Embedding)
		}
		if len(e.Embedding) != dim || dim == 0 {
			return fmt.Errorf("teach: example %d has %d values, the first has %d", i, len(e.Embedding), dim)
		}
		for _, v := range e.Embedding {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("teach: example %d holds NaN or infinite values", i)
			}
		}
		count[e.Class]++
	}
	for c, n := range count {
		if n == 0 {
			return fmt.Errorf("teach: class %q has no examples", classes[c])
		}
	}
	return nil
}

// Split holds out about holdout of each class's photos (Sources), seeded; a class with a
// single photo keeps it for training.
func Split(examples []Example, classes int, holdout float64, seed int64) (train, held []int) {
	rng := rand.New(rand.NewSource(seed))
	heldSource := map[[2]int]bool{}
	for c := range classes {
		var sources []int
		seen := map[int]bool{}
		for _, e := range examples {
			if e.Class == c && !seen[e.Source] {
				seen[e.Source] = true
				sources = append(sources, e.Source)
			}
		}
		slices.Sort(sources)
		rng.Shuffle(len(sources), func(i, j int) { sources[i], sources[j] = sources[j], sources[i] })
		n := int(math.Round(holdout * float64(len(sources))))
		if holdout > 0 && n == 0 && len(sources) >= 4 {
			n = 1
		}
		n = min(n, len(sources)-1)
		for _, s := range sources[:max(n, 0)] {
			heldSource[[2]int{c, s}] = true
		}
	}
	for i, e := range examples {
		if heldSource[[2]int{e.Class, e.Source}] {
			held = append(held, i)
		} else {
			train = append(train, i)
		}
	}
	return train, held
}

// Train fits a head to the examples: Adam on the mean cross-entropy, decoupled weight decay,
// minibatches in a seeded order, and early stopping on the held-out examples' loss (the head
// keeps the best epoch's weights).
func Train(ctx context.Context, examples []Example, classes []string, opt Options) (*Head, *Report, error) {
	opt = opt.withDefaults()
	if err := CheckExamples(examples, classes); err != nil {
		return nil, nil, err
	}
	if opt.Hidden < 0 || opt.Hidden > MaxHidden || opt.Epochs < 1 || opt.Epochs > MaxEpochs || opt.Batch < 1 ||
		!(opt.LearningRate > 0 && opt.LearningRate < 10) || !(opt.WeightDecay >= 0 && opt.WeightDecay < 1) || opt.Holdout >= 1 {
		return nil, nil, fmt.Errorf("teach: options out of range: hidden %d (0 to %d), epochs %d (1 to %d), batch %d, learning rate %g, weight decay %g, holdout %g",
			opt.Hidden, MaxHidden, opt.Epochs, MaxEpochs, opt.Batch, opt.LearningRate, opt.WeightDecay, opt.Holdout)
	}
	k, dim := len(classes), len(examples[0].Embedding)
	train, held := Split(examples, k, opt.Holdout, opt.Seed)
	// Training runs on standardized embeddings (each value less its mean over the training
	// examples, over its spread), which a network's activations of very different scales
	// need to converge in tens of epochs rather than hundreds; the standardization is folded
	// into the first layer afterwards, so the head reads raw embeddings.
	mean, scale := standardization(examples, train, dim)
	xs, labels := standardized(examples, mean, scale)
	rng := rand.New(rand.NewSource(opt.Seed + 1))
	n := newNet(dim, opt.Hidden, k, rng)
	best := n.clone()
	rep := &Report{Train: train, Held: held}
	bestLoss := math.Inf(1)
	order := slices.Clone(train)
	for epoch := 1; epoch <= opt.Epochs; epoch++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		ep := Epoch{Epoch: epoch}
		// The training loss and accuracy are each minibatch's before its step, as training
		// loops report them: a second pass over the examples would cost a third of the epoch.
		var right int
		for s := 0; s < len(order); s += opt.Batch {
			l, r := n.step(xs, labels, order[s:min(s+opt.Batch, len(order))], opt)
			ep.TrainLoss += l
			right += r
		}
		ep.TrainLoss /= float64(len(order))
		ep.TrainAcc = float64(right) / float64(len(order))
		ep.HeldLoss, ep.HeldAcc = math.NaN(), math.NaN()
		if len(held) > 0 {
			ep.HeldLoss, ep.HeldAcc = n.loss(xs, labels, held)
		}
		rep.Epochs = append(rep.Epochs, ep)
		if opt.Progress != nil {
			opt.Progress(ep)
		}
		score := ep.HeldLoss
		if len(held) == 0 {
			score = ep.TrainLoss
		}
		if score < bestLoss-opt.MinDelta || len(held) == 0 && score < bestLoss {
			bestLoss, rep.Best = score, epoch
			best = n.clone()
		} else if len(held) > 0 && epoch-rep.Best >= opt.Patience {
			break
		}
	}
	best.fold(mean, scale)
	h := best.head(classes)
	if len(held) > 0 {
		ev, err := Evaluate(h, examples, held, k)
		if err != nil {
			return nil, nil, err
		}
		rep.Evaluation = ev
	}
	return h, rep, nil
}

// standardization is the mean and 1/spread of each embedding value over the training
// examples (1 where a value does not vary).
func standardization(examples []Example, train []int, dim int) (mean, scale []float64) {
	mean, scale = make([]float64, dim), make([]float64, dim)
	for _, i := range train {
		for j, v := range examples[i].Embedding {
			mean[j] += float64(v)
		}
	}
	inv := 1 / float64(len(train))
	for j := range mean {
		mean[j] *= inv
	}
	for _, i := range train {
		for j, v := range examples[i].Embedding {
			d := float64(v) - mean[j]
			scale[j] += float64(d * d)
		}
	}
	for j := range scale {
		sd := math.Sqrt(float64(scale[j] * inv))
		scale[j] = 1
		if sd > 1e-6 {
			scale[j] = 1 / sd
		}
	}
	return mean, scale
}

// standardized is each example's embedding standardized, in float64, and its class.
func standardized(examples []Example, mean, scale []float64) ([][]float64, []int) {
	xs, labels := make([][]float64, len(examples)), make([]int, len(examples))
	for i, e := range examples {
		x := make([]float64, len(e.Embedding))
		for j, v := range e.Embedding {
			x[j] = float64(float64(v)-mean[j]) * scale[j]
		}
		xs[i], labels[i] = x, e.Class
	}
	return xs, labels
}

// fold makes the first layer read raw embeddings: w·((x - mean) * scale) + b becomes
// (w * scale)·x + (b - (w * scale)·mean).
func (n *net) fold(mean, scale []float64) {
	for o := range n.b1 {
		row := n.w1[o*n.dim : (o+1)*n.dim]
		for j := range row {
			row[j] = float64(row[j] * scale[j])
			n.b1[o] -= float64(row[j] * mean[j])
		}
	}
}

// net is a head in training: float64 weights and Adam's moments.
type net struct {
	dim, hidden, k int
	w1, b1, w2, b2 []float64 // as Head's, in float64
	m, v           [][]float64
	t              int
}

func newNet(dim, hidden, k int, rng *rand.Rand) *net {
	n := &net{dim: dim, hidden: hidden, k: k}
	out1 := k
	if hidden > 0 {
		out1 = hidden
	}
	// He-normal for a ReLU layer, Glorot-like for the softmax layer; zero biases.
	n.w1 = normal(rng, out1*dim, math.Sqrt(2/float64(dim)))
	n.b1 = make([]float64, out1)
	if hidden > 0 {
		n.w2 = normal(rng, k*hidden, math.Sqrt(1/float64(hidden)))
		n.b2 = make([]float64, k)
	}
	for _, p := range n.params() {
		n.m = append(n.m, make([]float64, len(p)))
		n.v = append(n.v, make([]float64, len(p)))
	}
	return n
}

func normal(rng *rand.Rand, n int, std float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = rng.NormFloat64() * std
	}
	return out
}

func (n *net) params() [][]float64 {
	if n.hidden > 0 {
		return [][]float64{n.w1, n.b1, n.w2, n.b2}
	}
	return [][]float64{n.w1, n.b1}
}

func (n *net) clone() *net {
	c := *n
	c.w1, c.b1, c.w2, c.b2 = slices.Clone(n.w1), slices.Clone(n.b1), slices.Clone(n.w2), slices.Clone(n.b2)
	return &c
}

func (n *net) head(classes []string) *Head {
	f := func(x []float64) []float32 {
		if x == nil {
			return nil
		}
		out := make([]float32, len(x))
		for i, v := range x {
			out[i] = float32(v)
		}
		return out
	}
	return &Head{Classes: slices.Clone(classes), Dim: n.dim, Hidden: n.hidden, W1: f(n.w1), B1: f(n.b1), W2: f(n.w2), B2: f(n.b2)}
}

// forward returns the hidden activation (nil without a hidden layer) and the softmax.
func (n *net) forward(x []float64) (h, p []float64) {
	a := dense(n.w1, n.b1, x)
	if n.hidden == 0 {
		return nil, softmax(a)
	}
	for i, v := range a {
		a[i] = max(v, 0)
	}
	return a, softmax(dense(n.w2, n.b2, a))
}

func dense(w, b, x []float64) []float64 {
	out := make([]float64, len(b))
	n := len(x)
	for o := range b {
		row := w[o*n : (o+1)*n]
		row = row[:n] // one bounds check for the loops below
		// Four running sums in a fixed order: four times the speed of one, whose every add
		// waits for the last, and the same result on every platform (each product is
		// converted before it is added: no fused multiply-add).
		var s0, s1, s2, s3 float64
		i := 0
		for ; i+4 <= n; i += 4 {
			s0 += float64(row[i] * x[i])
			s1 += float64(row[i+1] * x[i+1])
			s2 += float64(row[i+2] * x[i+2])
			s3 += float64(row[i+3] * x[i+3])
		}
		for ; i < n; i++ {
			s0 += float64(row[i] * x[i])
		}
		out[o] = b[o] + ((s0 + s1) + (s2 + s3))
	}
	return out
}

// loss is the mean cross-entropy and accuracy on the examples at idx.
func (n *net) loss(xs [][]float64, labels []int, idx []int) (float64, float64) {
	var l float64
	correct := 0
	for _, i := range idx {
		_, p := n.forward(xs[i])
		c := labels[i]
		l -= math.Log(max(p[c], 1e-300))
		if argmax64(p) == c {
			correct++
		}
	}
	return l / float64(len(idx)), float64(correct) / float64(len(idx))
}

// step is one Adam step on the minibatch's mean cross-entropy; it returns the minibatch's
// summed loss and how many it classified right, before the step.
func (n *net) step(xs [][]float64, labels []int, batch []int, opt Options) (loss float64, right int) {
	ps := n.params()
	grads := make([][]float64, len(ps))
	for i, p := range ps {
		grads[i] = make([]float64, len(p))
	}
	inv := 1 / float64(len(batch))
	for _, i := range batch {
		x := xs[i]
		h, p := n.forward(x)
		c := labels[i]
		loss -= math.Log(max(p[c], 1e-300))
		if argmax64(p) == c {
			right++
		}
		dz := slices.Clone(p) // d loss / d logits = p - onehot
		dz[c] -= 1
		if n.hidden == 0 {
			outer(grads[0], grads[1], dz, x, inv)
			continue
		}
		outer(grads[2], grads[3], dz, h, inv)
		dh := make([]float64, n.hidden)
		for o, d := range dz {
			for j, w := range n.w2[o*n.hidden : (o+1)*n.hidden] {
				dh[j] += float64(d * w)
			}
		}
		for j := range dh {
			if h[j] <= 0 {
				dh[j] = 0
			}
		}
		outer(grads[0], grads[1], dh, x, inv)
	}
	// AdamW.
	const b1, b2, eps = 0.9, 0.999, 1e-8
	n.t++
	c1, c2 := 1-math.Pow(b1, float64(n.t)), 1-math.Pow(b2, float64(n.t))
	for pi, p := range ps {
		m, v, g := n.m[pi], n.v[pi], grads[pi]
		decay := opt.WeightDecay
		if pi%2 == 1 {
			decay = 0 // biases are not decayed
		}
		for j := range p {
			// Every product converted before it is added: no fused multiply-add anywhere,
			// so the browser and the CPU compute the same weights.
			m[j] = float64(b1*m[j]) + float64((1-b1)*g[j])
			v[j] = float64(b2*v[j]) + float64((1-b2)*float64(g[j]*g[j]))
			p[j] -= float64(opt.LearningRate * (m[j]/c1/(math.Sqrt(v[j]/c2)+eps) + float64(decay*p[j])))
		}
	}
	return loss, right
}

func argmax64(p []float64) int {
	best := 0
	for j := range p {
		if p[j] > p[best] {
			best = j
		}
	}
	return best
}

// outer accumulates scale * d ⊗ x into gw (len(d) x len(x)) and scale * d into gb.
func outer(gw, gb, d, x []float64, scale float64) {
	for o, dv := range d {
		if dv == 0 {
			continue
		}
		s := float64(dv * scale)
		gb[o] += s
		row := gw[o*len(x) : (o+1)*len(x)]
		row = row[:len(x)]
		for i, xv := range x {
			row[i] += float64(s * xv)
		}
	}
}
