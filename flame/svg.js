"use strict";
// hotloop flame graph interactivity: hover details, click to zoom, reset zoom,
// regex search (Ctrl-F or the Search button) with the matched share of all
// samples, Ctrl-I to ignore case. The picture itself needs none of this.
var svg, frames, details, unzoombtn, searchbtn, icbtn, matchedtxt;
var xpad, inverted, fontsize, fontwidth, nametype;
var term = null, ignorecase = false, total = 0;

function init(evt) {
	svg = document.documentElement;
	frames = document.getElementById("frames");
	details = document.getElementById("details").firstChild;
	unzoombtn = document.getElementById("unzoom");
	searchbtn = document.getElementById("search");
	icbtn = document.getElementById("ignorecase");
	matchedtxt = document.getElementById("matched");
	xpad = parseFloat(svg.getAttribute("data-xpad"));
	inverted = svg.getAttribute("data-inverted") == "true";
	fontsize = parseFloat(svg.getAttribute("data-fontsize"));
	fontwidth = parseFloat(svg.getAttribute("data-fontwidth"));
	nametype = svg.getAttribute("data-nametype");
	var g = frames.children;
	for (var i = 0; i < g.length; i++) {
		var r = rect(g[i]);
		r.setAttribute("data-x", r.getAttribute("x"));
		r.setAttribute("data-w", r.getAttribute("width"));
		var n = count(g[i]);
		if (n > total) total = n;
	}
	svg.addEventListener("click", onclick, false);
	svg.addEventListener("mouseover", function (e) {
		var g = group(e.target);
		if (g) details.nodeValue = nametype + " " + title(g);
	}, false);
	svg.addEventListener("mouseout", function (e) {
		if (group(e.target)) details.nodeValue = " ";
	}, false);
	// A link can carry the view: ?s=regexp searches, ?x=&y= zooms (the
	// frame's original rect position), as flamegraph.pl's links do.
	var params = getParams();
	if (params.x && params.y) {
		var r = frames.querySelector('rect[data-x="' + params.x + '"][y="' + params.y + '"]');
		if (r) zoom(group(r));
	}
	if (params.s) {
		try { search(params.s); } catch (err) {} // a bad regexp in a link
	}
	window.addEventListener("keydown", function (e) {
		if (e.keyCode === 114 || (e.ctrlKey && e.keyCode === 70)) { // F3, Ctrl-F
			e.preventDefault();
			searchPrompt();
		} else if (e.ctrlKey && e.keyCode === 73) { // Ctrl-I
			e.preventDefault();
			toggleIgnorecase();
		}
	}, false);
}

// group returns the frame <g> an event target belongs to, or null.
function group(node) {
	while (node && node.parentNode) {
		if (node.parentNode === frames) return node;
		node = node.parentNode;
	}
	return null;
}
function rect(g) { return g.getElementsByTagName("rect")[0]; }
function title(g) { return g.getElementsByTagName("title")[0].textContent; }
// name strips the " (N samples, P%)" suffix of a title.
function name(g) { return title(g).replace(/ \([^(]*\)$/, ""); }
// count reads N of the title's "(N samples, ...)".
function count(g) {
	var m = /\(([0-9,.]+) [^(]*\)$/.exec(title(g));
	return m ? parseFloat(m[1].replace(/,/g, "")) : 0;
}

// getParams reads the query string of the page; setParam updates one
// parameter in place (no reload). Both do nothing where there is no URL to
// speak of (an <object> of a data: URL, a sandbox).
function getParams() {
	var out = {};
	try {
		var q = window.location.search.substring(1).split("&");
		for (var i = 0; i < q.length; i++) {
			var kv = q[i].split("=");
			if (kv[0] && kv[1]) out[kv[0]] = decodeURIComponent(kv[1]);
		}
	} catch (err) {}
	return out;
}
function setParam(key, value) {
	try {
		var p = getParams(), q = [];
		if (value === null) delete p[key]; else p[key] = value;
		for (var k in p) q.push(k + "=" + encodeURIComponent(p[k]));
		history.replaceState(null, "", q.length ? "?" + q.join("&") : window.location.pathname);
	} catch (err) {}
}

function onclick(e) {
	var g = group(e.target);
	if (g) {
		if (g.classList.contains("parent")) unzoom();
		zoom(g);
		var r = rect(g);
		setParam("x", r.getAttribute("data-x"));
		setParam("y", r.getAttribute("y"));
		return;
	}
	if (e.target.id == "unzoom") {
		unzoom();
		setParam("x", null);
		setParam("y", null);
		return;
	}
	if (e.target.id == "search") searchPrompt();
	else if (e.target.id == "ignorecase") toggleIgnorecase();
}

// label cuts a name to the frame's width as the renderer does.
function relabel(g) {
	var r = rect(g), t = g.getElementsByTagName("text")[0];
	var w = parseFloat(r.getAttribute("width"));
	t.setAttribute("x", (parseFloat(r.getAttribute("x")) + 3).toFixed(2));
	var chars = Math.floor(w / (fontsize * fontwidth));
	var s = name(g).replace(/_\[[kwij]\]$/, "");
	if (chars < 3) s = "";
	else if (s.length > chars) s = s.substring(0, chars - 2) + "..";
	t.textContent = s;
}

function zoom(g) {
	var r = rect(g);
	var x0 = parseFloat(r.getAttribute("x")), w0 = parseFloat(r.getAttribute("width"));
	var y0 = parseFloat(r.getAttribute("y"));
	var width = svg.width.baseVal.value - 2 * xpad;
	var ratio = width / w0, fudge = 0.0001;
	unzoombtn.classList.remove("hide");
	var all = frames.children;
	for (var i = 0; i < all.length; i++) {
		var e = all[i], a = rect(e);
		var ex = parseFloat(a.getAttribute("x")), ew = parseFloat(a.getAttribute("width"));
		var ey = parseFloat(a.getAttribute("y"));
		var above = inverted ? ey < y0 : ey > y0;
		if (above) {
			// an ancestor spans the zoomed frame: draw it full width, dimmed
			if (ex <= x0 + fudge && ex + ew + fudge >= x0 + w0) {
				e.classList.add("parent");
				a.setAttribute("x", xpad.toFixed(1));
				a.setAttribute("width", width.toFixed(1));
				relabel(e);
			} else {
				e.classList.add("hide");
			}
		} else if (ex + fudge < x0 || ex + fudge >= x0 + w0) {
			e.classList.add("hide");
		} else {
			a.setAttribute("x", ((ex - x0) * ratio + xpad).toFixed(1));
			a.setAttribute("width", (ew * ratio).toFixed(1));
			relabel(e);
		}
	}
}

function unzoom() {
	unzoombtn.classList.add("hide");
	var all = frames.children;
	for (var i = 0; i < all.length; i++) {
		var e = all[i], a = rect(e);
		e.classList.remove("parent");
		e.classList.remove("hide");
		a.setAttribute("x", a.getAttribute("data-x"));
		a.setAttribute("width", a.getAttribute("data-w"));
		relabel(e);
	}
}

function toggleIgnorecase() {
	ignorecase = !ignorecase;
	if (ignorecase) icbtn.classList.add("show"); else icbtn.classList.remove("show");
	if (term !== null) search(term);
}

function searchPrompt() {
	if (term !== null) {
		resetSearch();
		return;
	}
	var t = prompt("Enter a search term (regexp allowed, eg: ^runtime\\.)" +
		(ignorecase ? ", ignoring case" : "") + "\nPress Ctrl-i to toggle case sensitivity", "");
	if (t) search(t);
}

function resetSearch() {
	var all = frames.children;
	for (var i = 0; i < all.length; i++) {
		var a = rect(all[i]);
		if (a.hasAttribute("data-fill")) {
			a.setAttribute("fill", a.getAttribute("data-fill"));
			a.removeAttribute("data-fill");
		}
	}
	term = null;
	setParam("s", null);
	searchbtn.classList.remove("show");
	searchbtn.firstChild.nodeValue = "Search";
	matchedtxt.firstChild.nodeValue = " ";
}

// search highlights the frames whose name matches the regexp s and shows the
// share of all samples under them (a match inside a match counts once).
// It returns that share in percent.
function search(s) {
	var re = new RegExp(s, ignorecase ? "i" : "");
	resetSearch();
	term = s;
	setParam("s", s);
	var all = frames.children, hits = [];
	for (var i = 0; i < all.length; i++) {
		var g = all[i], a = rect(g);
		if (!re.test(name(g))) continue;
		a.setAttribute("data-fill", a.getAttribute("fill"));
		a.setAttribute("fill", "rgb(230,0,230)");
		hits.push({x: parseFloat(a.getAttribute("data-x")), w: parseFloat(a.getAttribute("data-w")), n: count(g)});
	}
	// outermost matches only: by x, widest first; skip those inside the last taken
	hits.sort(function (a, b) { return a.x - b.x || b.w - a.w; });
	var sum = 0, lastEnd = -1, fudge = 0.0001;
	for (var j = 0; j < hits.length; j++) {
		if (hits[j].x >= lastEnd - fudge) {
			sum += hits[j].n;
			lastEnd = hits[j].x + hits[j].w;
		}
	}
	searchbtn.classList.add("show");
	searchbtn.firstChild.nodeValue = "Reset Search";
	var pct = total > 0 ? 100 * sum / total : 0;
	matchedtxt.firstChild.nodeValue = "Matched: " + (pct == 100 ? "100" : pct.toFixed(1)) + "%";
	return pct;
}
