import { render } from "preact";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { App } from "./app";

const root = document.getElementById("app");
if (root === null) throw new Error("the page has no #app element");
root.textContent = "";
render(<App />, root);
