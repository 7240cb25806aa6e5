import { render } from 'preact';
import { startSession } from './api';
import { App } from './app';
import './styles.css';

// Before the first render: the router reads the address, which holds the launch token until then.
startSession();
render(<App />, document.getElementById('app')!);
