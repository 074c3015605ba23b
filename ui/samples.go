//go:build js && wasm

package main

// Sample is a bundled photo (ui/samples, licences in ui/samples/LICENSES.md, all CC0 or public domain).
type Sample struct {
	File, Title, Credit string
}

var samples = []Sample{
	{"chelsea.jpg", "Cat", "Chelsea the cat, by Stefan van der Walt, CC0"},
	{"coffee.jpg", "Coffee", "by Rachel Michetti, CC0"},
	{"astronaut.jpg", "Astronaut", "Eileen Collins, NASA, public domain"},
	{"rocket.jpg", "Rocket", "DSCOVR launch, SpaceX, public domain"},
}
