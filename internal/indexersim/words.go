package indexersim

// Read-only word lists the generator draws names and trait values from.
// They are never modified after initialisation.
var (
	nameAdjectives = []string{ //nolint:gochecknoglobals // read-only table
		"Brave", "Cosmic", "Crypto", "Dapper", "Electric", "Fancy", "Feral", "Frosty",
		"Golden", "Grumpy", "Happy", "Hidden", "Lazy", "Lucky", "Lunar", "Mystic",
		"Neon", "Pixel", "Quiet", "Rare", "Rusty", "Silent", "Sleepy", "Solar",
		"Stoned", "Tiny", "Velvet", "Wild", "Wobbly", "Zen",
	}
	nameNouns = []string{ //nolint:gochecknoglobals // read-only table
		"Apes", "Bears", "Cats", "Dragons", "Ducks", "Foxes", "Frogs", "Ghosts",
		"Goblins", "Kittens", "Knights", "Llamas", "Monks", "Octopi", "Otters", "Owls",
		"Pandas", "Penguins", "Punks", "Robots", "Sharks", "Skulls", "Sloths", "Toads",
		"Turtles", "Wizards", "Wolves", "Yetis",
	}
	stringTraitTypes = []string{ //nolint:gochecknoglobals // read-only table
		"Accessory", "Aura", "Background", "Body", "Clothes", "Earring", "Eyes", "Fur",
		"Glasses", "Hair", "Hat", "Mouth", "Necklace", "Pet", "Shoes", "Skin", "Tattoo",
		"Weapon", "Wings",
	}
	valueModifiers = []string{ //nolint:gochecknoglobals // read-only table
		"Amber", "Aqua", "Black", "Blue", "Bronze", "Cream", "Crimson", "Cyber",
		"Diamond", "Emerald", "Gold", "Gray", "Green", "Ivory", "Jade", "Lava",
		"Lime", "Magenta", "Navy", "Neon", "Orange", "Pink", "Purple", "Rainbow",
		"Red", "Ruby", "Silver", "Striped", "Teal", "Violet", "White", "Yellow",
	}
	valueBases = []string{ //nolint:gochecknoglobals // read-only table
		"Bandana", "Beanie", "Blaze", "Bolt", "Cap", "Cloud", "Crown", "Dots",
		"Flame", "Gradient", "Grin", "Halo", "Hoodie", "Horns", "Jacket", "Laser",
		"Mist", "Moon", "Pattern", "Robe", "Scarf", "Shades", "Smile", "Spikes",
		"Star", "Stripes", "Sunset", "Swirl", "Tears", "Visor", "Wave", "Zigzag",
	}
	legendaryValues = []string{ //nolint:gochecknoglobals // read-only table
		"Legendary Phoenix", "Legendary Void", "Legendary Oracle", "Legendary Glitch",
		"Legendary Titan", "Legendary Prism",
	}
	categories = []string{"pfps", "art", "gaming", "memberships", "photography"} //nolint:gochecknoglobals // read-only table
	safelist   = []string{"verified", "approved", "not_requested"}               //nolint:gochecknoglobals // read-only table
)

// numericTrait describes a trait type whose values are integers sent as JSON
// numbers.
type numericTrait struct {
	name     string
	display  string // "number" or "date"
	maxValue string // "" when the API sends null
	lo, hi   int64
	step     int64
}

// numericTraitTypes are the numeric trait types a collection may have.
var numericTraitTypes = []numericTrait{ //nolint:gochecknoglobals // read-only table
	{name: "Level", display: "number", maxValue: "100", lo: 1, hi: 100, step: 1},
	{name: "Generation", display: "number", lo: 1, hi: 12, step: 1},
	// Birthdays at midnight UTC between 2019-01-01 and 2023-12-31.
	{name: "Birthday", display: "date", lo: 1546300800, hi: 1703980800, step: 86400},
}
