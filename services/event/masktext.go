package event

// PublicText is s, a text of e, as everyone who may see e's incident may
// read it — the wall, the worker, Open311: with the personal numbers a
// caller or worker wrote into it masked (MaskText). A warning's text (CAP:
// an Alert, Update or Cancel from an authority) is kept as issued; its
// numbers are public hotlines.
func (e Event) PublicText(s string) string {
	if e.Source == Emergency && (e.Kind == "Alert" || e.Kind == "Update" || e.Kind == "Cancel") {
		return s
	}
	return MaskText(s)
}

// MaskText masks the personal numbers a free text can carry — a citizen's
// description of a 12345 call, a worker's note — as MaskPhone and MaskID
// mask the reporter's own fields:
//
//   - mobile numbers: 11 digits from 13… to 19…, also after 86 / +86 and
//     written 3-4-4 with hyphens or spaces (138****5678);
//   - landline numbers with an area code: 0, two or three more digits, an
//     optional hyphen or space, seven or eight digits (0512-****5678);
//   - resident ID numbers: 18 characters, the last a digit or X, with a
//     birth date in them (320602********1234).
//
// Other numbers are left as they are: 12345, house numbers, amounts, dates,
// ticket references. Fullwidth digits (１３８…) count as digits.
func MaskText(s string) string {
	r := []rune(s)
	changed := false
	for i := 0; i < len(r); {
		if !isDigit(r[i]) || (i > 0 && (isDigit(r[i-1]) || r[i-1] == '*')) {
			i++
			continue
		}
		// A number: digit groups joined by single hyphens or spaces, and an
		// X right after the digits (an ID number's check character). One
		// with a * in it is masked already (here, or by whoever wrote it)
		// and is left as it is, so that masking twice changes nothing.
		var pos []int // positions of its digits (and the X)
		groups := [][]int{}
		starred := false
		j := i
		for {
			start := len(pos)
			for j < len(r) && (isDigit(r[j]) || r[j] == '*') {
				if r[j] == '*' {
					starred = true
				} else {
					pos = append(pos, j)
				}
				j++
			}
			if j < len(r) && (r[j] == 'X' || r[j] == 'x') && len(pos)-start == 17 {
				pos = append(pos, j)
				j++
			}
			groups = append(groups, pos[start:])
			if j+1 < len(r) && isSeparator(r[j]) && isDigit(r[j+1]) {
				j++
				continue
			}
			break
		}
		if starred {
			i = j
			continue
		}
		if m := numberMask(r, pos); m != nil {
			mask(r, m)
			changed = true
		} else {
			for _, g := range groups {
				if m := numberMask(r, g); m != nil {
					mask(r, m)
					changed = true
				}
			}
		}
		i = j
	}
	if !changed {
		return s
	}
	return string(r)
}

// numberMask returns the positions to mask when the characters at pos form
// a personal number, else nil.
func numberMask(r []rune, pos []int) []int {
	d := make([]byte, len(pos))
	for k, p := range pos {
		d[k] = digitOf(r[p])
	}
	n := len(d)
	switch {
	case n == 11 && d[0] == '1' && d[1] >= '3':
		return pos[3:7]
	case n == 13 && d[0] == '8' && d[1] == '6' && d[2] == '1' && d[3] >= '3':
		return pos[5:9]
	case n == 18 && isIDNumber(d):
		return pos[6:14]
	case (n == 10 || n == 11 || n == 12) && d[0] == '0' && d[1] != '0':
		area := 4
		if d[1] == '1' || d[1] == '2' {
			area = 3 // 010, 020–029
		}
		if n-area < 7 || n-area > 8 {
			return nil
		}
		return pos[area : n-4]
	}
	return nil
}

// isIDNumber: 17 digits and a digit or X, with a plausible birth date.
func isIDNumber(d []byte) bool {
	for _, c := range d[:17] {
		if c < '0' || c > '9' {
			return false
		}
	}
	if c := d[17]; (c < '0' || c > '9') && c != 'X' {
		return false
	}
	year := string(d[6:8])
	month := int(d[10]-'0')*10 + int(d[11]-'0')
	day := int(d[12]-'0')*10 + int(d[13]-'0')
	return (year == "19" || year == "20") && month >= 1 && month <= 12 && day >= 1 && day <= 31
}

func mask(r []rune, at []int) {
	for _, p := range at {
		r[p] = '*'
	}
}

func isDigit(c rune) bool { return (c >= '0' && c <= '9') || (c >= '０' && c <= '９') }

// digitOf returns the ASCII digit of a digit (fullwidth too), 'X' for an X.
func digitOf(c rune) byte {
	switch {
	case c >= '0' && c <= '9':
		return byte(c)
	case c >= '０' && c <= '９':
		return byte('0' + c - '０')
	}
	return 'X'
}

func isSeparator(c rune) bool { return c == '-' || c == ' ' || c == '－' || c == '—' }
